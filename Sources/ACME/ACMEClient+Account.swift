import Certificates
import Foundation
import Transport

/// External Account Binding credentials (RFC 8555 §7.3.4), as a CA hands them out.
public struct ExternalAccountBinding: Sendable, CustomStringConvertible {
    public var keyID: String
    /// The MAC key, decoded from its base64url form.
    public var macKey: [UInt8]

    public init(keyID: String, macKey: [UInt8]) {
        self.keyID = keyID
        self.macKey = macKey
    }

    /// From the base64url text a CA gives (padding tolerated).
    public init(keyID: String, encodedMACKey: String) throws {
        guard let key = Base64URL.decode(encodedMACKey.trimmingCharacters(in: .whitespacesAndNewlines)), !key.isEmpty
        else {
            throw ACMEError(.invalidConfiguration, "the External Account Binding MAC key for \(keyID) is not base64url")
        }
        self.init(keyID: keyID, macKey: key)
    }

    public var description: String { "ExternalAccountBinding(keyID: \(keyID))" }
}

extension ACMEClient {
    /// Creates the account, or finds the existing one for this key (RFC 8555 §7.3: 201 or 200).
    public func register(
        contact: [String] = [],
        agreeToTerms: Bool = true,
        externalAccountBinding: ExternalAccountBinding? = nil
    ) async throws -> ACMEAccount {
        let directory = try await directory()
        var payload: [String: Any] = ["termsOfServiceAgreed": agreeToTerms]
        if !contact.isEmpty { payload["contact"] = contact }
        if let binding = externalAccountBinding {
            payload["externalAccountBinding"] = JWS.externalAccountBinding(
                keyID: binding.keyID,
                macKey: binding.macKey,
                accountKey: accountKey,
                url: directory.newAccount
            )
        } else if directory.meta?.externalAccountRequired == true {
            throw ACMEError(
                .invalidConfiguration,
                "the CA requires External Account Binding: set externalAccountBinding (keyID and keySecretRef) on the issuer"
            )
        }
        let response = try await post(
            directory.newAccount, payload: try encode(payload), action: "newAccount", useJWK: true)
        return try adoptAccount(from: response, url: directory.newAccount)
    }

    /// Finds the account of this key without creating one (`onlyReturnExisting`); nil when none.
    public func lookUpAccount() async throws -> ACMEAccount? {
        let directory = try await directory()
        do {
            let response = try await post(
                directory.newAccount,
                payload: try encode(["onlyReturnExisting": true]),
                action: "lookUpAccount",
                useJWK: true
            )
            return try adoptAccount(from: response, url: directory.newAccount)
        } catch let error as ACMEError where error.problem?.kind == .accountDoesNotExist {
            return nil
        }
    }

    /// Reads the account object.
    public func fetchAccount() async throws -> ACMEAccount {
        let url = try requireAccountURL()
        var account = try decode(ACMEAccount.self, from: try await post(url, payload: nil, action: "account"), url: url)
        account.url = url
        return account
    }

    /// Replaces the account's contacts (RFC 8555 §7.3.2).
    public func updateAccount(contact: [String]) async throws -> ACMEAccount {
        let url = try requireAccountURL()
        let response = try await post(url, payload: try encode(["contact": contact]), action: "updateAccount")
        var account = try decode(ACMEAccount.self, from: response, url: url)
        account.url = url
        return account
    }

    /// Deactivates the account for good (RFC 8555 §7.3.6).
    public func deactivateAccount() async throws -> ACMEAccount {
        let url = try requireAccountURL()
        let response = try await post(url, payload: try encode(["status": "deactivated"]), action: "deactivateAccount")
        var account = try decode(ACMEAccount.self, from: response, url: url)
        account.url = url
        return account
    }

    /// Moves the account to `newKey` (RFC 8555 §7.3.5). Afterwards this client signs with it.
    public func rollOver(to newKey: AccountKey) async throws {
        let directory = try await directory()
        let url = try requireAccountURL()
        let inner = try JWS.sign(
            payload: try encode(["account": url, "oldKey": try jwkObject(accountKey.jwk)]),
            url: directory.keyChange,
            nonce: nil,
            key: newKey,
            identification: .jwk
        )
        _ = try await post(directory.keyChange, payload: inner, action: "keyChange")
        setAccount(url: url, key: newKey)
    }

    private func adoptAccount(from response: HTTPResponse, url: String) throws -> ACMEAccount {
        guard let location = response.headers["Location"] else {
            throw ACMEError(.invalidResponse, "the CA's newAccount answer has no Location header", url: url)
        }
        var account = try decode(ACMEAccount.self, from: response, url: url)
        account.url = location
        setAccount(url: location, key: accountKey)
        return account
    }

    func requireAccountURL() throws -> String {
        guard let accountURL else {
            throw ACMEError(.invalidConfiguration, "no ACME account is registered yet")
        }
        return accountURL
    }

    private func jwkObject(_ jwk: JSONWebKey) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(jwk.canonicalJSON.utf8))
    }
}
