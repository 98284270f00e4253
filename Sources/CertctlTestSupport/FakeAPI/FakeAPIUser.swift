/// Who a request is, and what RBAC grants them: the fake authorizes every request as the real
/// server does with RBAC on (403 Forbidden with the same message when a verb is not granted).
public struct FakeAPIUser: Sendable, Equatable {
    /// `kubernetes-admin`, `system:serviceaccount:prod:certctl`; a client certificate's CN.
    public var name: String
    /// The bearer token that authenticates as this user; nil: only by client certificate.
    public var token: String?
    /// A member of `system:masters`: everything is allowed.
    public var isAdmin: Bool
    /// What Roles (with namespaces) and ClusterRoles (namespace nil) grant.
    public var rules: [FakeAPIRule]

    public init(name: String, token: String?, isAdmin: Bool = false, rules: [FakeAPIRule] = []) {
        self.name = name
        self.token = token
        self.isAdmin = isAdmin
        self.rules = rules
    }

    /// A cluster administrator with bearer token `token`.
    public static func admin(token: String = "test-token", name: String = "kubernetes-admin") -> FakeAPIUser {
        FakeAPIUser(name: name, token: token, isAdmin: true)
    }

    /// A ServiceAccount's token, bound to `rules`.
    public static func serviceAccount(_ namespace: String, _ name: String, token: String, rules: [FakeAPIRule])
        -> FakeAPIUser
    {
        FakeAPIUser(name: "system:serviceaccount:\(namespace):\(name)", token: token, rules: rules)
    }

    static let anonymous = FakeAPIUser(name: "system:anonymous", token: nil)

    /// RBAC's answer for one request (`resource` with its subresource, `certificates/status`).
    func allows(verb: String, group: String, resource: String, namespace: String?, name: String?) -> Bool {
        if isAdmin { return true }
        // system:basic-user: every authenticated user may ask what it may do.
        if self != Self.anonymous, group == "authorization.k8s.io",
            ["selfsubjectaccessreviews", "selfsubjectrulesreviews"].contains(resource), verb == "create"
        {
            return true
        }
        return rules.contains {
            $0.matches(verb: verb, group: group, resource: resource, namespace: namespace, name: name)
        }
    }
}

/// One RBAC rule: verbs on resources of API groups, in a namespace (a Role's) or everywhere.
public struct FakeAPIRule: Sendable, Equatable {
    /// The Role's namespace; nil for a ClusterRole bound cluster-wide.
    public var namespace: String?
    public var groups: Set<String>
    public var resources: Set<String>
    public var verbs: Set<String>
    /// `resourceNames`; nil for every object.
    public var names: Set<String>?

    public init(
        namespace: String?, groups: Set<String>, resources: Set<String>, verbs: Set<String>, names: Set<String>? = nil
    ) {
        self.namespace = namespace
        self.groups = groups
        self.resources = resources
        self.verbs = verbs
        self.names = names
    }

    func matches(verb: String, group: String, resource: String, namespace: String?, name: String?) -> Bool {
        (verbs.contains(verb) || verbs.contains("*")) && (groups.contains(group) || groups.contains("*"))
            && (resources.contains(resource) || resources.contains("*"))
            && (self.namespace == nil || self.namespace == namespace)
            && (names == nil || name.map { names?.contains($0) == true } == true)
    }
}
