{{- define "certctl.labels" -}}
app.kubernetes.io/name: certctl
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "certctl.namespaces" -}}
{{- if .Values.namespaces }}{{ toJson .Values.namespaces }}{{ else }}{{ toJson (list .Release.Namespace) }}{{ end }}
{{- end }}

{{- define "certctl.securityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- /* The arguments the job, the exporter and the test hook share: issuers and namespaces. */}}
{{- define "certctl.scopeArgs" -}}
- --issuers=/etc/certctl/issuers
- --default-issuer={{ .Values.defaultIssuer }}
{{- if .Values.issuersFromCluster }}
- --issuers-from-cluster
{{- end }}
{{- range include "certctl.namespaces" . | fromJsonArray }}
- --namespace={{ . }}
{{- end }}
{{- end }}

{{- /* The pod's identity for the HTTP-01 solver Services (name, namespace, IP, labels). */}}
{{- define "certctl.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef: {fieldPath: metadata.name}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef: {fieldPath: metadata.namespace}
# An Ingress in another namespace reaches the responder through this IP (an EndpointSlice
# beside a selector-less solver Service).
- name: POD_IP
  valueFrom:
    fieldRef: {fieldPath: status.podIP}
- name: CERTCTL_POD_LABELS_FILE
  value: /etc/podinfo/labels
{{- end }}
