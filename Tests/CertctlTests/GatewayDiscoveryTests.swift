import CertctlCore
import Kubernetes
import Testing

/// A Gateway allowing ListenerSets of its own namespace (`allowedListeners`' `from`; nil: the
/// field left out, which allows none).
func gateway(
    _ namespace: String, _ name: String,
    annotations: [String: String] = ["cert-manager.io/cluster-issuer": "letsencrypt"],
    allowing from: String? = "Same", selector: LabelSelector? = nil,
    _ listeners: [GatewayAPI.Listener]
) -> Gateway {
    Gateway(
        metadata: ObjectMeta(name: name, namespace: namespace, annotations: annotations),
        spec: .init(
            gatewayClassName: "traefik", listeners: listeners,
            allowedListeners: from.map { .init(namespaces: .init(from: $0, selector: selector)) }))
}

/// An HTTPS listener for `hostname` naming `secrets` (`name` or `namespace/name`).
func https(_ name: String, _ hostname: String?, _ secrets: [String], mode: String? = nil, protocol: String = "HTTPS")
    -> GatewayAPI.Listener
{
    let refs = secrets.map { secret -> GatewayAPI.ObjectReference in
        let parts = secret.split(separator: "/").map(String.init)
        return parts.count == 2
            ? GatewayAPI.ObjectReference(name: parts[1], namespace: parts[0]) : GatewayAPI.ObjectReference(name: secret)
    }
    return GatewayAPI.Listener(
        name: name, hostname: hostname, protocol: `protocol`, tls: .init(mode: mode, certificateRefs: refs))
}

@Suite("Which certificates Gateways and ListenerSets ask for (cert-manager's gateway-shim rules)")
struct GatewayDiscoveryTests {
    let issuers: Set<IssuerKey> = ["letsencrypt", "staging"]

    func discover(_ objects: GatewayObjects, ingresses: [Ingress] = [], wildcard: Set<IssuerKey> = [])
        -> Discovery.Result
    {
        Discovery.certificates(
            for: ingresses, issuers: issuers, defaultIssuer: "letsencrypt", wildcardIssuers: wildcard,
            gateways: objects)
    }

    func hosts(_ result: Discovery.Result) -> [String: [String]] {
        Dictionary(uniqueKeysWithValues: result.certificates.map { ($0.id, $0.hosts) })
    }

    @Test("two listeners sharing a Secret give one certificate with both names; a third its own")
    func shared() {
        let web = gateway(
            "prod", "web",
            [
                https("a", "a.mybinder.org", ["web-tls"]), https("b", "b.mybinder.org", ["web-tls"]),
                https("c", "c.mybinder.org", ["c-tls"]),
            ])
        let result = discover(GatewayObjects(gateways: [web]))
        #expect(
            hosts(result) == ["prod/web-tls": ["a.mybinder.org", "b.mybinder.org"], "prod/c-tls": ["c.mybinder.org"]])
        #expect(result.problems.isEmpty)
        #expect(result.certificates.allSatisfy { $0.sourceList == "Gateway prod/web" && $0.issuer == "letsencrypt" })
        #expect(result.certificates.allSatisfy { $0.ingresses.isEmpty })
    }

    @Test(
        "listeners that do not count are not problems: HTTP, no hostname, Passthrough, an unannotated Gateway",
        arguments: [
            gateway(
                "prod", "web",
                [GatewayAPI.Listener(name: "http", hostname: "a.mybinder.org", port: 80, protocol: "HTTP", tls: nil)]),
            gateway("prod", "web", [https("any", nil, ["web-tls"])]),
            gateway(
                "prod", "web", [https("pass", "a.mybinder.org", ["web-tls"], mode: "Passthrough", protocol: "TLS")]),
            gateway("prod", "web", annotations: [:], [https("a", "a.mybinder.org", ["web-tls"])]),
        ])
    func notCounted(_ web: Gateway) {
        let result = discover(GatewayObjects(gateways: [web]))
        #expect(result.certificates.isEmpty)
        #expect(result.problems.isEmpty, "\(result.problems)")
    }

    @Test("a TLS listener that terminates counts like HTTPS")
    func tlsTerminate() {
        let result = discover(
            GatewayObjects(gateways: [
                gateway("prod", "web", [https("t", "t.mybinder.org", ["t-tls"], protocol: "TLS")])
            ]))
        #expect(hosts(result) == ["prod/t-tls": ["t.mybinder.org"]])
    }

    @Test(
        "an almost right listener is reported, naming it and what to do",
        arguments: [
            (https("a", "a.mybinder.org", []), "names no Secret"),
            (
                GatewayAPI.Listener(
                    name: "a", hostname: "a.mybinder.org", protocol: "HTTPS",
                    tls: .init(certificateRefs: [.init(kind: "ConfigMap", name: "x")])),
                "certctl keeps certificates in Secrets only"
            ),
            (https("a", "a.mybinder.org", ["other/web-tls"]), "no ReferenceGrant in namespace other"),
            (https("a", "*.mybinder.org", ["wild-tls"]), "wildcard"),
        ] as [(GatewayAPI.Listener, String)])
    func reported(_ listener: GatewayAPI.Listener, _ words: String) {
        let result = discover(GatewayObjects(gateways: [gateway("prod", "web", [listener])]))
        #expect(result.certificates.isEmpty)
        #expect(result.problems.count == 1)
        #expect(result.problems.first?.reason.contains(words) == true, "\(result.problems)")
    }

    @Test("a Secret of another namespace, with a ReferenceGrant there that lets this Gateway refer to it")
    func crossNamespace() {
        let web = gateway("prod", "web", [https("a", "a.mybinder.org", ["shared/web-tls"])])
        func grant(_ kind: String, from namespace: String, name: String? = nil) -> ReferenceGrant {
            ReferenceGrant(
                metadata: ObjectMeta(name: "allow", namespace: "shared"),
                spec: .init(
                    from: [.init(group: "gateway.networking.k8s.io", kind: kind, namespace: namespace)],
                    to: [.init(group: "", kind: "Secret", name: name)]))
        }
        let granted = discover(GatewayObjects(gateways: [web], referenceGrants: [grant("Gateway", from: "prod")]))
        #expect(hosts(granted) == ["shared/web-tls": ["a.mybinder.org"]])
        #expect(granted.certificates.first?.sourceList == "Gateway prod/web")
        for wrong in [
            grant("ListenerSet", from: "prod"), grant("Gateway", from: "staging"),
            grant("Gateway", from: "prod", name: "other-tls"),
        ] {
            let refused = discover(GatewayObjects(gateways: [web], referenceGrants: [wrong]))
            #expect(refused.certificates.isEmpty)
            #expect(refused.problems.count == 1)
        }
        // A namespaced Issuer writes into its own namespace alone, grant or not: a tenant's
        // Issuer never re-keys another namespace's Secret.
        let tenant = gateway(
            "prod", "web", annotations: ["cert-manager.io/issuer": "mine"],
            [https("a", "a.mybinder.org", ["shared/web-tls"])])
        let own = Discovery.certificates(
            for: [], issuers: [IssuerKey(name: "mine", namespace: "prod")], defaultIssuer: nil,
            gateways: GatewayObjects(gateways: [tenant], referenceGrants: [grant("Gateway", from: "prod")]))
        #expect(own.certificates.isEmpty)
        #expect(
            own.problems.first?.reason.contains(
                "names Secret shared/web-tls of another namespace, and its issuer is Issuer prod/mine, which serves namespace prod alone"
            ) == true, "\(own.problems)")
    }

    @Test("a ListenerSet that asks for no certificate is not certctl's to refuse, allowed or not")
    func unmanagedListenerSet() {
        let web = gateway("prod", "web", annotations: [:], allowing: nil, [https("a", "a.mybinder.org", ["web-tls"])])
        let set = ListenerSet(
            metadata: ObjectMeta(name: "extra", namespace: "tenant"),
            spec: .init(
                parentRef: .init(name: "web", namespace: "prod"), listeners: [https("x", "x.mybinder.org", ["x-tls"])]))
        let result = discover(GatewayObjects(gateways: [web], listenerSets: [set]))
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(result.certificates.isEmpty)
    }

    @Test("a wildcard hostname where the issuer has a DNS-01 solver")
    func wildcard() {
        let web = gateway("prod", "web", [https("w", "*.mybinder.org", ["wild-tls"])])
        let result = discover(GatewayObjects(gateways: [web]), wildcard: ["letsencrypt"])
        #expect(hosts(result) == ["prod/wild-tls": ["*.mybinder.org"]])
    }

    @Test(
        "a ListenerSet: its own issuer wins, else its Gateway's; the Gateway's issuer-kind always; no Gateway, nothing")
    func listenerSets() {
        let web = gateway(
            "prod", "web", annotations: ["cert-manager.io/cluster-issuer": "letsencrypt"],
            [https("a", "a.mybinder.org", ["web-tls"])])
        func set(_ name: String, annotations: [String: String], parent: String = "web") -> ListenerSet {
            ListenerSet(
                metadata: ObjectMeta(name: name, namespace: "prod", annotations: annotations),
                spec: .init(
                    parentRef: .init(name: parent), listeners: [https("x", "\(name).mybinder.org", ["\(name)-tls"])]))
        }
        let result = discover(
            GatewayObjects(
                gateways: [web],
                listenerSets: [
                    set("own", annotations: ["cert-manager.io/cluster-issuer": "staging"]),
                    set("inherits", annotations: [:]),
                    set("orphan", annotations: ["cert-manager.io/cluster-issuer": "staging"], parent: "gone"),
                ]))
        let byID = Dictionary(uniqueKeysWithValues: result.certificates.map { ($0.id, $0) })
        #expect(Set(byID.keys) == ["prod/web-tls", "prod/own-tls", "prod/inherits-tls"])
        #expect(byID["prod/own-tls"]?.issuer == "staging")
        #expect(byID["prod/inherits-tls"]?.issuer == "letsencrypt")
        #expect(byID["prod/own-tls"]?.sourceList == "ListenerSet prod/own")
        #expect(result.problems.isEmpty)
        let inherited = Discovery.inherited(
            ["cert-manager.io/issuer": "mine", "cert-manager.io/issuer-kind": "Issuer"],
            from: ["cert-manager.io/cluster-issuer": "theirs", "cert-manager.io/issuer-kind": "ClusterIssuer"])
        #expect(inherited == ["cert-manager.io/issuer": "mine", "cert-manager.io/issuer-kind": "ClusterIssuer"])
    }

    @Test("an Ingress and a Gateway naming one Secret for the same hosts: one certificate asked for by both")
    func ingressAndGateway() {
        let result = discover(
            GatewayObjects(gateways: [gateway("prod", "web", [https("a", "a.mybinder.org", ["a-tls"])])]),
            ingresses: [
                ingress(
                    "prod", "a", annotations: ["cert-manager.io/cluster-issuer": "letsencrypt"],
                    tls: [(["a.mybinder.org"], "a-tls")])
            ])
        #expect(result.certificates.count == 1)
        #expect(result.certificates.first?.sourceList == "Ingress prod/a, Gateway prod/web")
        #expect(result.certificates.first?.ingresses == ["a"])
        let other = discover(
            GatewayObjects(gateways: [gateway("prod", "web", [https("a", "b.mybinder.org", ["a-tls"])])]),
            ingresses: [
                ingress(
                    "prod", "a", annotations: ["cert-manager.io/cluster-issuer": "letsencrypt"],
                    tls: [(["a.mybinder.org"], "a-tls")])
            ])
        #expect(other.certificates.isEmpty)
        #expect(
            other.problems.first?.reason.contains(
                "is named by Ingress prod/a for a.mybinder.org and by Gateway prod/web") == true)
    }

    struct Admission: CustomTestStringConvertible, Sendable {
        var what: String
        var from: String?
        var selector: LabelSelector?
        /// The ListenerSet's namespace (the Gateway is in `prod`).
        var namespace: String
        var labels: [String: String]?
        /// Nil: attached, its certificate ordered; else a fragment of the problem.
        var refusal: String?
        var testDescription: String { what }
    }

    static let admissions: [Admission] = [
        Admission(what: "field missing: None", from: nil, namespace: "prod", refusal: "allows no ListenerSet"),
        Admission(what: "None", from: "None", namespace: "prod", refusal: "allows no ListenerSet"),
        Admission(what: "Same, same namespace", from: "Same", namespace: "prod"),
        Admission(
            what: "Same, another namespace", from: "Same", namespace: "tenant",
            refusal: "allows ListenerSets of its own namespace only"),
        Admission(what: "All, another namespace", from: "All", namespace: "tenant"),
        Admission(
            what: "Selector, labels match", from: "Selector",
            selector: LabelSelector(
                matchLabels: ["gateway": "web"],
                matchExpressions: [.init(key: "tier", operator: "In", values: ["edge", "web"])]),
            namespace: "tenant", labels: ["gateway": "web", "tier": "edge"]),
        Admission(
            what: "Selector, labels do not match", from: "Selector",
            selector: LabelSelector(matchLabels: ["gateway": "web"]), namespace: "tenant", labels: ["gateway": "db"],
            refusal: "namespace tenant does not match"),
        Admission(
            what: "Selector, an unknown operator matches nothing", from: "Selector",
            selector: LabelSelector(matchExpressions: [.init(key: "gateway", operator: "Gt", values: ["1"])]),
            namespace: "tenant", labels: ["gateway": "2"], refusal: "does not match"),
        Admission(
            what: "Selector, labels not readable", from: "Selector",
            selector: LabelSelector(matchLabels: ["gateway": "web"]), namespace: "tenant", labels: nil,
            refusal: "could not read namespace tenant's labels"),
        Admission(
            what: "a value the API does not define", from: "Everyone", namespace: "prod", refusal: "\"Everyone\""),
    ]

    @Test("a ListenerSet attaches only where its Gateway's allowedListeners allows it", arguments: admissions)
    func allowedListeners(_ admission: Admission) {
        let web = gateway(
            "prod", "web", allowing: admission.from, selector: admission.selector,
            [https("a", "a.mybinder.org", ["web-tls"])])
        let set = ListenerSet(
            metadata: ObjectMeta(name: "extra", namespace: admission.namespace),
            spec: .init(
                parentRef: .init(name: "web", namespace: "prod"),
                listeners: [https("x", "x.mybinder.org", ["x-tls"])]))
        var objects = GatewayObjects(gateways: [web], listenerSets: [set])
        if let labels = admission.labels { objects.namespaceLabels[admission.namespace] = labels }
        if admission.from == "Selector" { #expect(objects.namespacesToLabel == [admission.namespace]) }
        let result = discover(objects)
        let ordered = result.certificates.map(\.id)
        if let refusal = admission.refusal {
            #expect(ordered == ["prod/web-tls"], "nothing ordered for the ListenerSet")
            #expect(result.problems.count == 1)
            let problem = result.problems.first
            #expect(problem?.object == "ListenerSet \(admission.namespace)/extra")
            #expect(problem?.kind == .notAllowed)
            #expect(problem?.field == "spec.parentRef")
            #expect(problem?.reason.contains("Gateway prod/web") == true, "\(problem?.reason ?? "")")
            #expect(problem?.reason.contains(refusal) == true, "\(problem?.reason ?? "")")
        } else {
            #expect(Set(ordered) == ["prod/web-tls", "\(admission.namespace)/x-tls"], "\(result.problems)")
            #expect(result.problems.isEmpty)
        }
    }

    struct Scoping: CustomTestStringConvertible, Sendable {
        var what: String
        var annotations: [String: String]
        var issuers: Set<IssuerKey>
        /// The issuer chosen, or a fragment of the problem.
        var chosen: IssuerKey?
        var refusal: String?
        var testDescription: String { what }
    }

    static let scopings: [Scoping] = [
        Scoping(
            what: "an Issuer of the object's namespace", annotations: ["cert-manager.io/issuer": "le"],
            issuers: [IssuerKey(name: "le", namespace: "prod")], chosen: IssuerKey(name: "le", namespace: "prod")),
        Scoping(
            what: "another namespace's Issuer is not borrowed", annotations: ["cert-manager.io/issuer": "team-b"],
            issuers: [IssuerKey(name: "team-b", namespace: "b")],
            refusal:
                "names the Issuer \"team-b\", which namespace prod does not have; Issuer b/team-b serves only its own namespace's objects"
        ),
        Scoping(
            what: "two same-named Issuers: each namespace its own", annotations: ["cert-manager.io/issuer": "le"],
            issuers: [IssuerKey(name: "le", namespace: "prod"), IssuerKey(name: "le", namespace: "b")],
            chosen: IssuerKey(name: "le", namespace: "prod")),
        Scoping(
            what: "a ClusterIssuer and an Issuer of one name: the annotation's kind decides (Issuer)",
            annotations: ["cert-manager.io/issuer": "le"], issuers: ["le", IssuerKey(name: "le", namespace: "prod")],
            chosen: IssuerKey(name: "le", namespace: "prod")),
        Scoping(
            what: "a ClusterIssuer and an Issuer of one name: the annotation's kind decides (ClusterIssuer)",
            annotations: ["cert-manager.io/cluster-issuer": "le"],
            issuers: ["le", IssuerKey(name: "le", namespace: "prod")], chosen: "le"),
        Scoping(
            what: "issuer-kind ClusterIssuer with cert-manager.io/issuer",
            annotations: ["cert-manager.io/issuer": "le", "cert-manager.io/issuer-kind": "ClusterIssuer"],
            issuers: ["le"], chosen: "le"),
        Scoping(
            what: "an Issuer asked where only a ClusterIssuer has the name",
            annotations: ["cert-manager.io/issuer": "le"], issuers: ["le"],
            refusal: "\"le\" is a ClusterIssuer: name it with cert-manager.io/cluster-issuer"),
        Scoping(
            what: "a ClusterIssuer asked where only an Issuer has the name",
            annotations: ["cert-manager.io/cluster-issuer": "le"], issuers: [IssuerKey(name: "le", namespace: "b")],
            refusal: "there is only the Issuer b/le, which serves its own namespace alone"),
    ]

    @Test("issuers keyed by kind and namespace, as cert-manager keys them", arguments: scopings)
    func issuerScoping(_ scoping: Scoping) {
        let found = Discovery.certificates(
            for: [ingress("prod", "site", annotations: scoping.annotations, tls: [(["a.mybinder.org"], "tls-site")])],
            issuers: scoping.issuers, defaultIssuer: nil)
        if let chosen = scoping.chosen {
            #expect(found.problems.isEmpty, "\(found.problems)")
            #expect(found.certificates.first?.issuerKey == chosen)
        } else {
            #expect(found.certificates.isEmpty)
            #expect(found.problems.first?.kind == .unknownIssuer)
            #expect(found.problems.first?.object == "Ingress prod/site")
            #expect(
                found.problems.first?.reason.contains(scoping.refusal ?? "") == true,
                "\(found.problems.first?.reason ?? "")")
        }
    }
}
