{{- /* The chart's name (nameOverride) and the name every object is named from
(fullnameOverride, else RELEASE-NAME, or RELEASE when it already contains NAME: the documented
`helm install certctl ...` names everything certctl). A release name may have dots
(`helm install my.certctl`), a Service's name may not: dots become dashes. At most 52
characters, a CronJob's limit (its Jobs add 11), so that every name made from it fits: the
longest, FULLNAME-exporter (a Service: 63), is 61. */}}
{{- define "certctl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "certctl.fullname" -}}
{{- $full := .Values.fullnameOverride }}
{{- if not $full }}
{{- $name := include "certctl.name" . }}
{{- $full = ternary .Release.Name (printf "%s-%s" .Release.Name $name) (contains $name .Release.Name) }}
{{- end }}
{{- regexReplaceAll "-+$" ($full | replace "." "-" | trunc 52) "" }}
{{- end }}

{{- /* Objects outside the release namespace (the Roles in managed namespaces, the
ClusterRoles): NAMESPACE.FULLNAME, so that two releases of one name in two namespaces never
collide there (a namespace has no dot, so the first dot splits the two). */}}
{{- define "certctl.qualifiedName" -}}
{{- printf "%s.%s" .Release.Namespace (include "certctl.fullname" .) }}
{{- end }}

{{- define "certctl.exporterName" -}}
{{- printf "%s-exporter" (include "certctl.fullname" .) }}
{{- end }}

{{- define "certctl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "certctl.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.create is false: set serviceAccount.name to the ServiceAccount the job runs as" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "certctl.exporterServiceAccountName" -}}
{{- if .Values.exporter.serviceAccount.create }}
{{- default (include "certctl.exporterName" .) .Values.exporter.serviceAccount.name }}
{{- else }}
{{- required "exporter.serviceAccount.create is false: set exporter.serviceAccount.name to the ServiceAccount the exporter runs as" .Values.exporter.serviceAccount.name }}
{{- end }}
{{- end }}

{{- /* A label value: at most 63 characters, no `+` (SemVer build metadata). */}}
{{- define "certctl.labelValue" -}}
{{- . | toString | replace "+" "_" | trunc 63 | trimSuffix "-" | trimSuffix "_" | trimSuffix "." }}
{{- end }}

{{- define "certctl.chart" -}}
{{- include "certctl.labelValue" (printf "%s-%s" .Chart.Name .Chart.Version) }}
{{- end }}

{{- /* What a selector matches: never changes with the chart's or the image's version. */}}
{{- define "certctl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "certctl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- /* An object's labels: the chart's, then commonLabels merged with the object's own (a
monitor's, the rule's, the dashboard's labels; a pod's podLabels), which win. Called with the
context, or (list CONTEXT EXTRA). One map, so that a label given twice is one key (YAML with a
key twice is refused). The keys the chart sets itself cannot be given (certctl.validate). */}}
{{- define "certctl.labels" -}}
{{- $ := . }}
{{- $extra := dict }}
{{- if kindIs "slice" . }}
{{- $ = index . 0 }}
{{- $extra = index . 1 | default dict }}
{{- end }}
{{ include "certctl.selectorLabels" $ }}
app.kubernetes.io/version: {{ include "certctl.labelValue" (include "certctl.imageTag" $) | quote }}
app.kubernetes.io/managed-by: {{ $.Release.Service }}
helm.sh/chart: {{ include "certctl.chart" $ }}
{{- with mergeOverwrite (deepCopy ($.Values.commonLabels | default dict)) (deepCopy $extra) }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- /* The labels the chart sets itself: commonLabels, podLabels and the other labels values may
not name them (the selectors match the first three). */}}
{{- define "certctl.chartLabelKeys" -}}
{{- toJson (list "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component" "app.kubernetes.io/version" "app.kubernetes.io/managed-by" "helm.sh/chart") }}
{{- end }}

{{- /* A pod's labels: the object's, podLabels, and its component. */}}
{{- define "certctl.podLabels" -}}
{{- $ := index . 0 }}
{{- include "certctl.labels" (list $ $.Values.podLabels) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- /* image.tag: a number too (`--set image.tag=1`), and the chart's appVersion when empty. */}}
{{- define "certctl.imageTag" -}}
{{- $tag := .Values.image.tag }}
{{- if or (kindIs "float64" $tag) (kindIs "int64" $tag) (kindIs "int" $tag) }}{{ $tag | toString }}{{ else }}{{ default .Chart.AppVersion $tag }}{{ end }}
{{- end }}

{{- define "certctl.image" -}}
{{- $image := .Values.image }}
{{- with $image.registry }}{{ . }}/{{ end }}{{ $image.repository }}
{{- if $image.digest }}@{{ $image.digest }}{{ else }}:{{ include "certctl.imageTag" . }}{{ end }}
{{- end }}

{{- define "certctl.namespaces" -}}
{{- if .Values.namespaces }}{{ toJson .Values.namespaces }}{{ else }}{{ toJson (list .Release.Namespace) }}{{ end }}
{{- end }}

{{- /* The issuers named in the ConfigMap: the bundled ones and issuers.extra (null: none). */}}
{{- define "certctl.issuerNames" -}}
{{- $names := list }}
{{- range $path, $_ := .Files.Glob "files/issuers/*.yaml" }}
{{- $names = append $names (trimSuffix ".yaml" (base $path)) }}
{{- end }}
{{- range $name, $_ := ((.Values.issuers | default dict).extra | default dict) }}
{{- $names = append $names $name }}
{{- end }}
{{- toJson ($names | uniq | sortAlpha) }}
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

{{- /* The scheduling and pull settings every pod of the chart shares. */}}
{{- define "certctl.podScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
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

{{- /* The pod's identity for the HTTP-01 solver Services (name, namespace, IP, labels), and
extraEnv (e.g. HTTPS_PROXY to reach the CA). */}}
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
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- /* A Prometheus operator object (kind: ServiceMonitor, PodMonitor, PrometheusRule) asked for
by the value .value: refused with a message where the cluster does not serve that kind
(monitoring.coreos.com/v1/KIND: a cluster with some of the operator's CRDs may lack this one;
helm template: --api-versions monitoring.coreos.com/v1/KIND). */}}
{{- define "certctl.requireOperator" -}}
{{- $api := printf "monitoring.coreos.com/v1/%s" .kind }}
{{- if not (.Capabilities.APIVersions.Has $api) }}
{{- fail (printf "%s is true, but this cluster does not serve %s (the Prometheus operator's %s CRD): install the operator's CRDs first, or set %s to false%s (helm template: --api-versions %s)" .value $api .kind .value .hint $api) }}
{{- end }}
{{- end }}

{{- /* Value combinations that render but can only fail when the job runs, or that the API
server refuses. */}}
{{- define "certctl.validate" -}}
{{- $labelValues := dict "commonLabels" .Values.commonLabels "podLabels" .Values.podLabels "prometheus.serviceMonitor.labels" .Values.prometheus.serviceMonitor.labels "prometheus.podMonitor.labels" .Values.prometheus.podMonitor.labels "prometheusRule.labels" .Values.prometheusRule.labels "dashboard.labels" .Values.dashboard.labels }}
{{- range $value, $labels := $labelValues }}
{{- range $key := include "certctl.chartLabelKeys" $ | fromJsonArray }}
{{- if hasKey ($labels | default dict) $key }}
{{- fail (printf "%s sets %s, a label the chart sets itself (the exporter's selector and its Service's match app.kubernetes.io/name, /instance and /component; a key given twice makes the object invalid): remove %s from %s" $value $key $key $value) }}
{{- end }}
{{- end }}
{{- end }}
{{- $fullname := include "certctl.fullname" . }}
{{- if and .Values.exporter.enabled (not (regexMatch "^[a-z]" $fullname)) }}
{{- fail (printf "the exporter's Service would be named %s-exporter (from the release name %q), and a Service's name must begin with a letter: set fullnameOverride to a name that does" $fullname .Release.Name) }}
{{- end }}
{{- $issuers := .Values.issuers | default dict }}
{{- $http01 := $issuers.http01 | default dict }}
{{- if and (hasKey $http01 "gatewayHTTPRoute") (not .Values.gatewayAPI) }}
{{- fail "issuers.http01.gatewayHTTPRoute answers HTTP-01 through HTTPRoutes, which the job may create only with gatewayAPI: true: set gatewayAPI: true (and have the Gateway API CRDs), or use issuers.http01.ingress" }}
{{- end }}
{{- range $name, $spec := ($issuers.extra | default dict) }}
{{- range (($spec | default dict).acme | default dict).solvers | default list }}
{{- if and (hasKey ((. | default dict).http01 | default dict) "gatewayHTTPRoute") (not $.Values.gatewayAPI) }}
{{- fail (printf "issuers.extra.%s solves HTTP-01 through gatewayHTTPRoute, which the job may create only with gatewayAPI: true: set gatewayAPI: true, or give that solver http01.ingress" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not .Values.issuersFromCluster }}
{{- $names := include "certctl.issuerNames" . | fromJsonArray }}
{{- if not (has .Values.defaultIssuer $names) }}
{{- fail (printf "defaultIssuer is %q, which is no issuer of this chart (%s): set defaultIssuer to one of them, add it under issuers.extra, or set issuersFromCluster: true to use a ClusterIssuer of the cluster" .Values.defaultIssuer (join ", " $names)) }}
{{- end }}
{{- end }}
{{- /* extraArgs that change what the chart set up (its RBAC, mounts, ports, the in-cluster
mode): each names the value to set instead. A flag with or without =VALUE; a single-dash
argument is -n or -A (the only short options of run and serve), alone or grouped. */}}
{{- $setUp := dict
  "-n" "set namespaces instead (the chart passes --namespace for each and grants a Role in each)"
  "--namespace" "set namespaces instead (the chart passes --namespace for each and grants a Role in each)"
  "-A" "list the namespaces in namespaces instead (the chart grants in the namespaces it names, nothing cluster-wide)"
  "--all-namespaces" "list the namespaces in namespaces instead (the chart grants in the namespaces it names, nothing cluster-wide)"
  "--issuers" "set issuers.extra instead (the chart mounts its issuers ConfigMap at --issuers)"
  "--default-issuer" "set defaultIssuer instead"
  "--issuers-from-cluster" "set issuersFromCluster instead (it adds the ClusterRole to read them)"
  "--http01-listen" "set http01Port instead (the port the pod declares)"
  "--listen" "set exporter.port instead (the port the Service and the scrape target)"
  "--kubeconfig" "remove it: in the pod certctl uses its ServiceAccount (serviceAccount.*)"
  "--context" "remove it: in the pod certctl uses its ServiceAccount (serviceAccount.*)"
  "--manifests" "remove it: the chart runs certctl on the cluster, where local mode has no place"
  "--state" "remove it: the chart runs certctl on the cluster, where local mode has no place"
  "--certctl-namespace" "remove it: certctl's own namespace (its Lease, accounts, run history) is the release namespace, where the chart grants them; install the release there instead"
}}
{{- range $value, $args := dict "extraArgs" .Values.extraArgs "exporter.extraArgs" .Values.exporter.extraArgs }}
{{- range $arg := $args | default list }}
{{- $flag := regexReplaceAll "=.*$" $arg "" }}
{{- if regexMatch "^-[^-]" $flag }}
{{- $flag = ternary "-n" (ternary "-A" "" (contains "A" $flag)) (contains "n" $flag) }}
{{- end }}
{{- if hasKey $setUp $flag }}
{{- fail (printf "%s has %q, which changes what the chart sets up: %s" $value $arg (get $setUp $flag)) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* extraEnv naming what the chart sets (the pod's identity, its own namespace). */}}
{{- $podEnv := dict
  "POD_NAME" "the chart sets it from the pod (the solver Services name it)"
  "POD_NAMESPACE" "the chart sets it from the pod: certctl's own namespace is the release namespace, where the chart grants its Lease, accounts and run history"
  "POD_IP" "the chart sets it from the pod (the solver EndpointSlices point at it)"
  "CERTCTL_POD_LABELS_FILE" "the chart sets it (the solver Services select the pod's labels)"
  "CERTCTL_NAMESPACE" "certctl's own namespace is the release namespace, where the chart grants its Lease, accounts and run history; install the release there instead"
}}
{{- range .Values.extraEnv | default list }}
{{- if hasKey $podEnv .name }}
{{- fail (printf "extraEnv sets %s: remove it, %s" .name (get $podEnv .name)) }}
{{- end }}
{{- end }}
{{- if and .Values.exporter.enabled .Values.serviceAccount.create .Values.exporter.serviceAccount.create }}
{{- $account := include "certctl.serviceAccountName" . }}
{{- if eq $account (include "certctl.exporterServiceAccountName" .) }}
{{- fail (printf "the job's and the exporter's ServiceAccounts are both named %s, and both created (serviceAccount.create, exporter.serviceAccount.create): two ServiceAccounts of one name; set exporter.serviceAccount.name (or serviceAccount.name) to another name" $account) }}
{{- end }}
{{- end }}
{{- if and .Values.prometheus.podMonitor.enabled .Values.prometheus.serviceMonitor.enabled }}
{{- fail "prometheus.podMonitor.enabled and prometheus.serviceMonitor.enabled are both true: the exporter would be scraped twice (every sum and alert doubled); enable one" }}
{{- end }}
{{- if and .Values.prometheus.serviceMonitor.enabled (not .Values.exporter.enabled) }}
{{- fail "prometheus.serviceMonitor.enabled is true but exporter.enabled is false: there is nothing to scrape; enable the exporter or the monitor, not one without the other" }}
{{- end }}
{{- if and .Values.prometheus.podMonitor.enabled (not .Values.exporter.enabled) }}
{{- fail "prometheus.podMonitor.enabled is true but exporter.enabled is false: there is nothing to scrape; enable the exporter or the monitor, not one without the other" }}
{{- end }}
{{- end }}
