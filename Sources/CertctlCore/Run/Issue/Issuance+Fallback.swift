import ACME
import Basics
import Certificates
import Foundation
import Logging

/// A fallback issuer's issuance: the issuer it stood in for, and why that one could not issue.
struct FallbackUse: Sendable, Equatable {
    var from: String
    var reason: String
}

/// Fallback issuers in the issue stage (README, "When the CA fails"): the certificate's own issuer
/// first, then its fallbacks in turn while it has no time left; an order kept at a fallback
/// picked up before anything else.
extension Issuance {
    /// An order a killed run kept at one of `issuer`'s fallbacks, picked up before the own CA is
    /// asked: it may have been finalized there, and a new order would make a second certificate.
    /// nil when there is none to pick up (or its CA cannot give it now): the own CA is asked.
    private func pickUpAtFallback(
        _ entry: Inventory.Entry, from issuer: Issuer, accounts: OpenedAccounts
    ) async -> IssuanceResult? {
        let desired = entry.desired
        for key in issuer.fallback {
            guard keeper.lostReason() == nil, let fallback = options.issuers[key],
                let kept = await accounts.keptOrders(fallback, with: self)[desired.id],
                case .success(let client) = await accounts.open(fallback, with: self).0
            else { continue }
            do {
                guard let resumed = try await resume(kept, entry, issuer: fallback, client: client) else { continue }
                try IssuedCheck.verify(resumed, key: kept.key, names: desired.hosts, now: now())
                logger.notice(
                    "picked up the order a previous run had finalized at a fallback",
                    metadata: ["secret": "\(desired.id)", "fallback": "\(fallback.key)", "order": "\(kept.orderURL)"])
                let reason = entry.record.fallbackReason ?? "a previous run's order at \(fallback.name), picked up"
                return .issued(
                    IssuedValue(
                        certificate: resumed, key: kept.key, account: await client.accountURL, renewalInfo: nil,
                        renewalInfoFailed: true, keptOrder: true, persistUntil: nil, issuer: fallback,
                        fallback: FallbackUse(from: issuer.key.description, reason: reason)))
            } catch let error as CertctlError where error.code == .issuance {
                await keptOrders.forget(desired.id, issuer: fallback)
            } catch {
                continue
            }
        }
        return nil
    }

    /// One certificate, by its own issuer; when that one's CA cannot issue it (or holds it back)
    /// and it has no time left to wait, by each fallback in turn until one issues it (README,
    /// "When the CA fails").
    func issue(
        _ entry: Inventory.Entry, _ action: PlannedAction, issuer: Issuer?, accounts: OpenedAccounts,
        http01: HTTP01Session
    ) async -> IssuanceResult {
        let desired = entry.desired
        guard let issuer else {
            return .failed(
                CertificateFailure(
                    CertctlError(
                        .unknownIssuer, object: "Secret \(desired.id)", "the issuer \(desired.issuer) is not defined")))
        }
        if let picked = await pickUpAtFallback(entry, from: issuer, accounts: accounts) {
            // Its own issuer ordered nothing for it: what the budget reserved there is free again.
            await budgets.settle(certificate: desired.id, issuer: issuer)
            return picked
        }
        var failed: CertificateFailure
        if let deferral = limited[desired.id] {
            failed = CertificateFailure(kind: .rateLimited, message: "\(issuer.name) \(deferral)")
            failed.retryAfter = deferral.until
            failed.held = deferral
        } else if let hold = action.ownIssuerBacksOff {
            let previous = Bounded.excerpt(entry.record.lastFailure ?? "a failure", limit: 160)
            failed = CertificateFailure(
                kind: entry.record.lastFailureKind ?? .other,
                message: "\(issuer.name) holds it back until \(RenewalRecord.format(hold)) after: \(previous)")
            failed.retryAfter = hold
        } else {
            let result = await issue(entry, action, by: issuer, accounts: accounts, http01: http01, fallback: nil)
            var failure: CertificateFailure
            switch result {
            case .limited(let held) where action.urgent && !issuer.fallback.isEmpty:
                failure = CertificateFailure(kind: .rateLimited, message: "\(issuer.name) \(held)")
                failure.retryAfter = held.until
                failure.held = held
            case .failed(let failed): failure = failed
            default: return result
            }
            failure.issuer = issuer.key.description
            guard action.urgent, failure.kind.isCAUnavailable, !issuer.fallback.isEmpty else {
                return .failed(failure)
            }
            if failure.voidsKeptOrder { await keptOrders.forget(desired.id, issuer: issuer) }
            failure.voidsKeptOrder = false
            failure.message = "\(issuer.name): \(Bounded.excerpt(failure.description, limit: 160))"
            failed = failure
        }
        return await fallBack(entry, action, from: issuer, after: failed, accounts: accounts, http01: http01)
    }

    /// `issuer`'s fallbacks in turn, after its own failure `first`: the first that issues the
    /// certificate wins. When all fail, the failure recorded is the last one's (its kind, its
    /// issuer: its own back-off holds then, not the skip of the own issuer's), held back as long
    /// as any of them asked, with each issuer's reason.
    private func fallBack(
        _ entry: Inventory.Entry, _ action: PlannedAction, from issuer: Issuer, after first: CertificateFailure,
        accounts: OpenedAccounts, http01: HTTP01Session
    ) async -> IssuanceResult {
        let desired = entry.desired
        var failed = first
        var reasons = [first.message]
        let use = FallbackUse(from: issuer.key.description, reason: first.message)
        for key in issuer.fallback {
            guard let fallback = options.issuers[key] else { continue }
            // A fallback's own limits hold too: no order it knows its CA would refuse.
            let candidate = RateBudget.Candidate(id: desired.id, names: desired.hosts, replaces: false)
            if let deferral = await budgets.admit([candidate], issuer: fallback).deferred.first {
                reasons.append("fallback \(fallback.name) \(deferral)")
                failed = Self.held(by: deferral, at: fallback, after: failed)
                continue
            }
            logger.warning(
                "its own issuer cannot issue it and it has no time left to wait: asking a fallback",
                metadata: ["secret": "\(desired.id)", "issuer": "\(issuer.key)", "fallback": "\(fallback.key)"])
            let result = await issue(entry, action, by: fallback, accounts: accounts, http01: http01, fallback: use)
            if case .limited(let deferral) = result {
                reasons.append("fallback \(fallback.name) \(deferral)")
                failed = Self.held(by: deferral, at: fallback, after: failed)
                continue
            }
            guard case .failed(var failure) = result else { return result }
            if failure.voidsKeptOrder { await keptOrders.forget(desired.id, issuer: fallback) }
            reasons.append("fallback \(fallback.name): \(Bounded.excerpt(failure.description, limit: 160))")
            failure.issuer = fallback.key.description
            failure.voidsKeptOrder = false
            failure.retryAfter = [failed.retryAfter, failure.retryAfter].compactMap { $0 }.max()
            failed = failure
        }
        // Every issuer of the chain held by its limits, none asked: the chain waits, no failure.
        if let held = failed.held, let until = failed.retryAfter {
            return .limited(
                RateBudget.Deferral(
                    id: desired.id, until: until, limit: held.limit, reason: reasons.joined(separator: "; ")))
        }
        failed.message = reasons.joined(separator: "; ")
        return .failed(failed)
    }

    /// A fallback held by its limits after `failed`: the chain's failure so far, held as long as
    /// any asked, and still held by limits alone when no CA was asked before.
    private static func held(by deferral: RateBudget.Deferral, at fallback: Issuer, after failed: CertificateFailure)
        -> CertificateFailure
    {
        var held = CertificateFailure(kind: .rateLimited, message: "\(deferral)")
        held.issuer = fallback.key.description
        held.retryAfter = [failed.retryAfter, deferral.until].compactMap { $0 }.max()
        if failed.held != nil { held.held = deferral }
        return held
    }
}
