{{/* Names, labels, image and the derived settings every template shares. */}}

{{- define "startup-lock.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "startup-lock.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "startup-lock.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "startup-lock.selectorLabels" -}}
app.kubernetes.io/name: {{ include "startup-lock.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "startup-lock.labels" -}}
helm.sh/chart: {{ include "startup-lock.chart" . }}
{{ include "startup-lock.selectorLabels" . }}
app.kubernetes.io/version: {{ include "startup-lock.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: startup-lock
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "startup-lock.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "startup-lock.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "startup-lock.imageTag" -}}
{{- toString (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* repository:tag, or repository:tag@digest when a digest pins it. */}}
{{- define "startup-lock.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (include "startup-lock.imageTag" .) }}
{{- if .Values.image.digest }}
{{- $ref = printf "%s@%s" $ref .Values.image.digest }}
{{- end }}
{{- $ref }}
{{- end }}

{{- define "startup-lock.helperImage" -}}
{{- printf "%s:%s" .Values.helperImage.repository (toString .Values.helperImage.tag) }}
{{- end }}

{{/* The port the node's clients use: hostPort when set, else the server's port. */}}
{{- define "startup-lock.nodePort" -}}
{{- if and (not .Values.hostNetwork) .Values.hostPort }}
{{- .Values.hostPort }}
{{- else }}
{{- .Values.port }}
{{- end }}
{{- end }}

{{/* A duration in the one grammar (a whole number, unit ms, s, m or h, none for seconds: "15", "500ms",
"2m"; values.schema.json checks it) as whole seconds, rounded up. */}}
{{- define "startup-lock.durationSeconds" -}}
{{- $d := toString . }}
{{- $digits := regexFind "^[0-9]+" $d }}
{{- $n := atoi $digits }}
{{- $unit := trimPrefix $digits $d }}
{{- if eq $unit "ms" }}
{{- div (add $n 999) 1000 }}
{{- else if eq $unit "m" }}
{{- mul $n 60 }}
{{- else if eq $unit "h" }}
{{- mul $n 3600 }}
{{- else }}
{{- $n }}
{{- end }}
{{- end }}

{{/* Longer than the preStop sleep plus the server's drain, so the kubelet never kills a draining server. */}}
{{- define "startup-lock.terminationGracePeriodSeconds" -}}
{{- $minimum := add (int .Values.preStop.sleepSeconds) (include "startup-lock.durationSeconds" .Values.shutdownTimeout | int) 1 }}
{{- $given := int .Values.terminationGracePeriodSeconds }}
{{- if eq $given 0 }}
{{- add $minimum 4 }}
{{- else if lt $given $minimum }}
{{- fail (printf "terminationGracePeriodSeconds: %d is too short; it must exceed preStop.sleepSeconds + shutdownTimeout (at least %d), or the kubelet kills the server while it drains" $given $minimum) }}
{{- else }}
{{- $given }}
{{- end }}
{{- end }}

{{/* Non-empty when some feature talks to the Kubernetes API (token mounted, RBAC rendered). */}}
{{- define "startup-lock.needsApi" -}}
{{- if or .Values.releaseOnReady .Values.events .Values.k8sHealth.enabled }}true{{ end }}
{{- end }}

{{/* The ClusterRole's rules: read-only except creating events, each rule only when a feature needs it. */}}
{{- define "startup-lock.rbacRules" -}}
{{- if or .Values.releaseOnReady .Values.k8sHealth.enabled }}
# releaseOnReady watches the pods on its node; k8sHealth reads this node's DaemonSet pods.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
{{- end }}
{{- if .Values.k8sHealth.enabled }}
# k8sHealth: which DaemonSets belong on this node (selectors, affinity, taints).
- apiGroups: ["apps"]
  resources: ["daemonsets"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get", "list", "watch"]
{{- end }}
{{- if .Values.events }}
# events: grant and release Events on the holder pods, in their namespaces.
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
{{- end }}

{{/* The checks the server runs: the user's plus the k8s-health sidecar. */}}
{{- define "startup-lock.checks" -}}
{{- $checks := list }}
{{- range .Values.checks }}
{{- $checks = append $checks . }}
{{- end }}
{{- if .Values.k8sHealth.enabled }}
{{- $checks = append $checks (printf "http://127.0.0.1:%d/" (int .Values.k8sHealth.port)) }}
{{- end }}
{{- toYaml $checks }}
{{- end }}

{{/* Where the server and the sidecar read their --config files (the ConfigMap of configmap.yaml). */}}
{{- define "startup-lock.configDir" -}}
/etc/startup-lock/config
{{- end }}

{{/* The server's --config file: the options the values set, plus where the chart puts things. */}}
{{- define "startup-lock.serverConfig" -}}
{{- $options := include "startup-lock.serverOptions" . | fromYaml }}
{{- $_ := set $options "host" .Values.listenAddress }}
{{- $_ := set $options "port" .Values.port }}
{{- $_ := set $options "check" (include "startup-lock.checks" . | fromYamlArray) }}
{{- if .Values.tokenSecret }}
{{- $_ := set $options "tokenFile" "/etc/startup-lock/token/token" }}
{{- end }}
{{- if .Values.stateFile.enabled }}
{{- $_ := set $options "stateFile" "/var/lib/startup-lock/state.json" }}
{{- end }}
{{- toYaml $options }}
{{- end }}

{{/* The health sidecar's --config file: only the server in this pod asks it, on 127.0.0.1, and it skips
the lock's own DaemonSet (its pod here is this pod: judging it would be circular). */}}
{{- define "startup-lock.healthConfig" -}}
{{- $options := include "startup-lock.healthOptions" . | fromYaml }}
{{- $_ := set $options "host" "127.0.0.1" }}
{{- $_ := set $options "port" .Values.k8sHealth.port }}
{{- $_ := set $options "selfName" (include "startup-lock.fullname" .) }}
{{- $_ := set $options "selfNamespace" .Release.Namespace }}
{{- toYaml $options }}
{{- end }}

{{/* Settings for the startup-lock-client library, matching this release: used by NOTES.txt. */}}
{{- define "startup-lock.clientValues" -}}
{{- $image := dict "repository" .Values.image.repository "tag" (include "startup-lock.imageTag" .) "pullPolicy" .Values.image.pullPolicy }}
{{- if .Values.image.digest }}
{{- $_ := set $image "digest" .Values.image.digest }}
{{- end }}
{{- $client := dict "enabled" true "image" $image "port" (include "startup-lock.nodePort" . | int) }}
{{- if .Values.tokenSecret }}
{{- $_ := set $client "tokenSecret" .Values.tokenSecret }}
{{- end }}
{{- toYaml (dict "Values" (dict "startupLock" $client)) }}
{{- end }}

{{/* ---- injector (startup-lock inject, the mutating admission webhook) ---- */}}

{{- define "startup-lock.injectorName" -}}
{{- printf "%s-injector" (include "startup-lock.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Its own app.kubernetes.io/name, so the DaemonSet's selector and Service never pick its pods. */}}
{{- define "startup-lock.injectorSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-injector" (include "startup-lock.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "startup-lock.injectorLabels" -}}
helm.sh/chart: {{ include "startup-lock.chart" . }}
{{ include "startup-lock.injectorSelectorLabels" . }}
app.kubernetes.io/version: {{ include "startup-lock.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: startup-lock
app.kubernetes.io/component: injector
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "startup-lock.injectorSecretName" -}}
{{- printf "%s-tls" (include "startup-lock.injectorName" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Where the webhook reads its ConfigMap (injector-configmap.yaml): container.yaml and inject.yaml. */}}
{{- define "startup-lock.injectorConfigDir" -}}
/etc/startup-lock/injector
{{- end }}

{{/* The webhook's --config file: the options the values set (_options.tpl), plus its names, the files the
chart mounts (the container to inject; cert-manager's certificate, else its own Secret) and listenAddress,
which it shares with the server. */}}
{{- define "startup-lock.injectConfig" -}}
{{- $name := include "startup-lock.injectorName" . }}
{{- $options := include "startup-lock.injectOptions" . | fromYaml }}
{{- $_ := set $options "host" .Values.listenAddress }}
{{- $_ := set $options "webhookName" $name }}
{{- $_ := set $options "serviceName" $name }}
{{- $_ := set $options "containerFile" (printf "%s/container.yaml" (include "startup-lock.injectorConfigDir" .)) }}
{{- if .Values.injector.certManager.enabled }}
{{- $_ := set $options "tlsCertFile" "/etc/startup-lock/tls/tls.crt" }}
{{- $_ := set $options "tlsKeyFile" "/etc/startup-lock/tls/tls.key" }}
{{- else }}
{{- $_ := set $options "secretName" (include "startup-lock.injectorSecretName" .) }}
{{- end }}
{{- toYaml $options }}
{{- end }}

{{/* Settings for the startup-lock-client library as the injector injects it: one source for both. */}}
{{- define "startup-lock.injectorClientValues" -}}
{{- if .Values.tokenSecret }}
{{- fail "injector.enabled: not supported together with tokenSecret (the injector cannot add the token Secret to every namespace); use legacyApi or the library chart" }}
{{- end }}
{{- $client := include "startup-lock.clientValues" . | fromYaml }}
{{- $cfg := $client.Values.startupLock }}
{{- with .Values.injector.client }}
{{- if .duration }}{{ $_ := set $cfg "duration" .duration }}{{ end }}
{{- if .timeout }}{{ $_ := set $cfg "timeout" .timeout }}{{ end }}
{{- $_ := set $cfg "failOpenAfter" .failOpenAfter }}
{{- if .runAsUser }}{{ $_ := set $cfg "runAsUser" .runAsUser }}{{ end }}
{{- if .resources }}{{ $_ := set $cfg "resources" .resources }}{{ end }}
{{- end }}
{{- toYaml $client }}
{{- end }}

{{/* What both webhooks of the MutatingWebhookConfiguration share; called with (list $). */}}
{{- define "startup-lock.injectorWebhook" -}}
{{- $ := index . 0 -}}
admissionReviewVersions: ["v1"]
sideEffects: None
failurePolicy: Ignore
timeoutSeconds: {{ $.Values.injector.timeoutSeconds }}
reinvocationPolicy: IfNeeded
clientConfig:
  service:
    name: {{ include "startup-lock.injectorName" $ }}
    namespace: {{ $.Release.Namespace }}
    path: /mutate
    port: 443
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE"]
    scope: Namespaced
# The webhook checks both again; here they save the API server a call.
matchConditions:
  - name: not-daemonset-pod
    expression: "!has(object.metadata.ownerReferences) || !object.metadata.ownerReferences.exists(r, r.kind == 'DaemonSet')"
  - name: not-mirror-pod
    expression: "!has(object.metadata.annotations) || !('kubernetes.io/config.mirror' in object.metadata.annotations)"
{{- end }}
