{{- define "certctl.labels" -}}
app.kubernetes.io/name: certctl
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: mybinder
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "certctl.namespaces" -}}
{{- if .Values.certctl.namespaces }}{{ toJson .Values.certctl.namespaces }}{{ else }}{{ toJson (list .Release.Namespace) }}{{ end }}
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
