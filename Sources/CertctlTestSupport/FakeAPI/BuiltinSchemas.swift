/// The Go types of the built-in kinds the fake serves (`k8s.io/api`), the fields certctl and its
/// neighbours use: enough that a valid object of the kind decodes without an unknown field.
enum BuiltinSchemas {
    static let ownerReference = ObjectSchema(
        "OwnerReference",
        [
            "apiVersion": .a(.string), "kind": .a(.string), "name": .a(.string), "uid": .a(.string),
            "controller": .p(.bool), "blockOwnerDeletion": .p(.bool),
        ])

    static let objectMeta = ObjectSchema(
        "ObjectMeta",
        [
            "name": .o(.string), "generateName": .o(.string), "namespace": .o(.string), "selfLink": .o(.string),
            "uid": .o(.string), "resourceVersion": .o(.string), "generation": .o(.int64),
            "creationTimestamp": .p(.time), "deletionTimestamp": .p(.time), "deletionGracePeriodSeconds": .p(.int64),
            "labels": .o(.map(.string)), "annotations": .o(.map(.string)),
            "ownerReferences": .o(.array(.object(ownerReference))), "finalizers": .o(.array(.string)),
            "managedFields": .o(.any),
        ])

    /// apiVersion, kind, metadata and the kind's own fields.
    static func root(_ goType: String, _ fields: [String: Field]) -> ObjectSchema {
        ObjectSchema(
            goType,
            fields.merging(["apiVersion": .o(.string), "kind": .o(.string), "metadata": .a(.object(objectMeta))]) {
                $1
            })
    }

    static let secret = root(
        "Secret",
        [
            "immutable": .p(.bool), "data": .o(.map(.bytes)), "stringData": .o(.map(.string)), "type": .o(.string),
        ])

    static let configMap = root(
        "ConfigMap", ["immutable": .p(.bool), "data": .o(.map(.string)), "binaryData": .o(.map(.bytes))])

    static let servicePort = ObjectSchema(
        "ServicePort",
        [
            "name": .o(.string), "protocol": .o(.string), "appProtocol": .p(.string), "port": .a(.int32),
            "targetPort": .o(.intOrString), "nodePort": .o(.int32),
        ])

    static let loadBalancerStatus = ObjectSchema(
        "LoadBalancerStatus",
        [
            "ingress": .o(
                .array(
                    .object(
                        ObjectSchema(
                            "LoadBalancerIngress",
                            [
                                "ip": .o(.string), "hostname": .o(.string), "ipMode": .p(.string),
                                "ports": .o(.array(.any)),
                            ]))))
        ])

    static let service = root(
        "Service",
        [
            "spec": .a(
                .object(
                    ObjectSchema(
                        "ServiceSpec",
                        [
                            "ports": .o(.array(.object(servicePort))), "selector": .o(.map(.string)),
                            "clusterIP": .o(.string), "clusterIPs": .o(.array(.string)), "type": .o(.string),
                            "externalIPs": .o(.array(.string)), "sessionAffinity": .o(.string),
                            "loadBalancerIP": .o(.string), "loadBalancerSourceRanges": .o(.array(.string)),
                            "externalName": .o(.string), "externalTrafficPolicy": .o(.string),
                            "healthCheckNodePort": .o(.int32), "publishNotReadyAddresses": .o(.bool),
                            "sessionAffinityConfig": .p(.any), "ipFamilies": .o(.array(.string)),
                            "ipFamilyPolicy": .p(.string), "allocateLoadBalancerNodePorts": .p(.bool),
                            "loadBalancerClass": .p(.string), "internalTrafficPolicy": .p(.string),
                            "trafficDistribution": .p(.string),
                        ]))),
            "status": .a(
                .object(
                    ObjectSchema(
                        "ServiceStatus",
                        ["loadBalancer": .a(.object(loadBalancerStatus)), "conditions": .o(.array(.any))]))),
        ])

    static let ingressBackend = ObjectSchema(
        "IngressBackend",
        [
            "service": .p(
                .object(
                    ObjectSchema(
                        "IngressServiceBackend",
                        [
                            "name": .a(.string),
                            "port": .a(
                                .object(
                                    ObjectSchema(
                                        "ServiceBackendPort", ["name": .o(.string), "number": .o(.int32)]))),
                        ]))),
            "resource": .p(
                .object(
                    ObjectSchema(
                        "TypedLocalObjectReference",
                        ["apiGroup": .p(.string), "kind": .a(.string), "name": .a(.string)]))),
        ])

    static let ingress = root(
        "Ingress",
        [
            "spec": .a(
                .object(
                    ObjectSchema(
                        "IngressSpec",
                        [
                            "ingressClassName": .p(.string), "defaultBackend": .p(.object(ingressBackend)),
                            "tls": .o(
                                .array(
                                    .object(
                                        ObjectSchema(
                                            "IngressTLS",
                                            ["hosts": .o(.array(.string)), "secretName": .o(.string)])))),
                            "rules": .o(
                                .array(
                                    .object(
                                        ObjectSchema(
                                            "IngressRule",
                                            [
                                                "host": .o(.string),
                                                "http": .p(
                                                    .object(
                                                        ObjectSchema(
                                                            "HTTPIngressRuleValue",
                                                            [
                                                                "paths": .a(
                                                                    .array(
                                                                        .object(
                                                                            ObjectSchema(
                                                                                "HTTPIngressPath",
                                                                                [
                                                                                    "path": .o(.string),
                                                                                    "pathType": .p(.string),
                                                                                    "backend": .a(
                                                                                        .object(ingressBackend)),
                                                                                ]))))
                                                            ]))),
                                            ])))),
                        ]))),
            "status": .a(
                .object(ObjectSchema("IngressStatus", ["loadBalancer": .a(.object(loadBalancerStatus))]))),
        ])

    static let lease = root(
        "Lease",
        [
            "spec": .a(
                .object(
                    ObjectSchema(
                        "LeaseSpec",
                        [
                            "holderIdentity": .p(.string), "leaseDurationSeconds": .p(.int32),
                            "acquireTime": .p(.microTime), "renewTime": .p(.microTime),
                            "leaseTransitions": .p(.int32), "strategy": .p(.string), "preferredHolder": .p(.string),
                        ])))
        ])

    static let objectReference = ObjectSchema(
        "ObjectReference",
        [
            "kind": .o(.string), "namespace": .o(.string), "name": .o(.string), "uid": .o(.string),
            "apiVersion": .o(.string), "resourceVersion": .o(.string), "fieldPath": .o(.string),
        ])

    static let eventSource = ObjectSchema("EventSource", ["component": .o(.string), "host": .o(.string)])

    /// `events.k8s.io/v1` Event.
    static let event = root(
        "Event",
        [
            "eventTime": .a(.microTime),
            "series": .p(
                .object(ObjectSchema("EventSeries", ["count": .a(.int32), "lastObservedTime": .a(.microTime)]))),
            "reportingController": .o(.string), "reportingInstance": .o(.string), "action": .o(.string),
            "reason": .o(.string), "regarding": .a(.object(objectReference)), "related": .p(.object(objectReference)),
            "note": .o(.string), "type": .o(.string), "deprecatedSource": .a(.object(eventSource)),
            "deprecatedFirstTimestamp": .a(.time), "deprecatedLastTimestamp": .a(.time), "deprecatedCount": .o(.int32),
        ])

    /// The same Event as `core/v1` serves it.
    static let coreEvent = root(
        "Event",
        [
            "involvedObject": .a(.object(objectReference)), "reason": .o(.string), "message": .o(.string),
            "source": .a(.object(eventSource)), "firstTimestamp": .a(.time), "lastTimestamp": .a(.time),
            "count": .o(.int32), "type": .o(.string), "eventTime": .a(.microTime),
            "series": .p(
                .object(ObjectSchema("EventSeries", ["count": .o(.int32), "lastObservedTime": .o(.microTime)]))),
            "action": .o(.string), "related": .p(.object(objectReference)), "reportingComponent": .a(.string),
            "reportingInstance": .a(.string),
        ])

    static let endpointSlice = root(
        "EndpointSlice",
        [
            "addressType": .a(.string),
            "endpoints": .a(
                .array(
                    .object(
                        ObjectSchema(
                            "Endpoint",
                            [
                                "addresses": .a(.array(.string)),
                                "conditions": .o(
                                    .object(
                                        ObjectSchema(
                                            "EndpointConditions",
                                            ["ready": .p(.bool), "serving": .p(.bool), "terminating": .p(.bool)]))),
                                "hostname": .p(.string), "targetRef": .p(.object(objectReference)),
                                "deprecatedTopology": .o(.map(.string)), "nodeName": .p(.string), "zone": .p(.string),
                                "hints": .p(.any),
                            ])))),
            "ports": .a(
                .array(
                    .object(
                        ObjectSchema(
                            "EndpointPort",
                            [
                                "name": .p(.string), "protocol": .p(.string), "port": .p(.int32),
                                "appProtocol": .p(.string),
                            ])))),
        ])

    static let namespace = root(
        "Namespace",
        [
            "spec": .a(.object(ObjectSchema("NamespaceSpec", ["finalizers": .o(.array(.string))]))),
            "status": .a(
                .object(ObjectSchema("NamespaceStatus", ["phase": .o(.string), "conditions": .o(.array(.any))]))),
        ])

    static let selfSubjectAccessReview = root(
        "SelfSubjectAccessReview",
        [
            "spec": .a(
                .object(
                    ObjectSchema(
                        "SelfSubjectAccessReviewSpec",
                        [
                            "resourceAttributes": .p(
                                .object(
                                    ObjectSchema(
                                        "ResourceAttributes",
                                        [
                                            "namespace": .o(.string), "verb": .o(.string), "group": .o(.string),
                                            "version": .o(.string), "resource": .o(.string),
                                            "subresource": .o(.string), "name": .o(.string),
                                            "fieldSelector": .p(.any), "labelSelector": .p(.any),
                                        ]))),
                            "nonResourceAttributes": .p(
                                .object(
                                    ObjectSchema(
                                        "NonResourceAttributes", ["path": .o(.string), "verb": .o(.string)]))),
                        ]))),
            "status": .a(
                .object(
                    ObjectSchema(
                        "SubjectAccessReviewStatus",
                        [
                            "allowed": .a(.bool), "denied": .o(.bool), "reason": .o(.string),
                            "evaluationError": .o(.string),
                        ]))),
        ])
}
