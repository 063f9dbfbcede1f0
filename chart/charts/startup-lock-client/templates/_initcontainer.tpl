{{/*
startup-lock-client: the init container an app pod runs first, so that it waits for a lease from the
startup-lock server on its own node (HOST_IP, from the downward API) before the app's start-up work.

Usage in an app chart that lists this chart as a dependency:

  initContainers:
    {{- include "startup-lock-client.initContainer" . | nindent 8 }}
  volumes:
    {{- include "startup-lock-client.volumes" . | nindent 8 }}   # only needed with startupLock.tokenSecret

Settings come from the app chart's .Values.startupLock, every one optional:
  enabled        false renders nothing (default true)
  name           container name (default "startup-lock")
  image          {repository, tag, digest, pullPolicy}; default the DaemonSet's image,
                 ghcr.io/startup-lock/startup-lock:<this chart's appVersion>, already on every node
  port           the lock's port on the node (default 8888)
  duration       hold at most this long, whole seconds ("30s", "2m"; default: the server's --timeout)
  timeout        give up (exit 1) after waiting this long (default: wait forever)
                 Durations: a whole number with an optional unit (30, 500ms, 30s, 2m, 1h), as everywhere.
  failOpenAfter  start anyway if the lock server has been unreachable (absent, not busy) this long
                 (default "5m"; "0" turns fail-open off)
  tokenSecret    name of a Secret (key "token") with the lease API bearer token
  runAsUser      UID of the client (default 65532); a service mesh's excluded UID (Istio 1337,
                 Linkerd 2102) keeps its CNI from redirecting the client's traffic
  resources      container resources (default: small requests, memory limit)

Which setting sets which acquire flag (port, duration, timeout, failOpenAfter) is generated from the
acquire option table (src/config/acquire.ts) into _acquire_options.tpl by `npm run options`.
*/}}

{{/* The default image tag: a library template sees the app chart's .Chart, so this is written out.
Kept in step with package.json by `npm run release` (scripts/release.ts), never by hand. */}}
{{- define "startup-lock-client.appVersion" -}}
0.1.0
{{- end }}

{{/* Where the release pushes the image and the charts; `npm run release -- --registry R` writes R here
in the packaged chart, so a chart pulled from a registry defaults to the image beside it. */}}
{{- define "startup-lock-client.imageRepository" -}}
ghcr.io/startup-lock/startup-lock
{{- end }}

{{- define "startup-lock-client.chartRepository" -}}
oci://ghcr.io/startup-lock/charts
{{- end }}

{{- define "startup-lock-client.settings" -}}
{{- $cfg := default dict .Values.startupLock -}}
{{- if not (kindIs "map" $cfg) -}}
{{- fail (printf "startupLock must be a map of settings, got %s" (kindOf $cfg)) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end }}

{{/* A duration in startup-lock's one grammar (src/config/formats.ts DURATION_PATTERN): a whole number,
unit ms, s, m or h, none for seconds. With "wholeSeconds", as --duration needs, a number of ms must be too. */}}
{{- define "startup-lock-client.checkDuration" -}}
{{- $key := index . 0 -}}
{{- $value := toString (index . 1) -}}
{{- if not (regexMatch "^[0-9]+(ms|s|m|h)?$" $value) -}}
{{- fail (printf "startupLock.%s: %q is not a duration (a whole number with an optional unit: 30, 500ms, 30s, 2m, 1h)" $key $value) -}}
{{- end -}}
{{- if and (eq (len .) 3) (regexMatch "^[0-9]*[1-9][0-9]{0,2}ms$" $value) -}}
{{- fail (printf "startupLock.%s: %q is not whole seconds (the server counts in seconds: 30, 30s, 2m)" $key $value) -}}
{{- end -}}
{{- $value -}}
{{- end }}

{{- define "startup-lock-client.enabled" -}}
{{- $cfg := include "startup-lock-client.settings" . | fromYaml -}}
{{- if or (not (hasKey $cfg "enabled")) (eq (toString $cfg.enabled) "true") -}}true{{- end -}}
{{- end }}

{{- define "startup-lock-client.initContainer" -}}
{{- if include "startup-lock-client.enabled" . }}
{{- $cfg := include "startup-lock-client.settings" . | fromYaml -}}
{{- $image := default dict $cfg.image -}}
{{- $repository := default (include "startup-lock-client.imageRepository" .) $image.repository -}}
{{- $tag := toString (default (include "startup-lock-client.appVersion" .) $image.tag) -}}
{{- $ref := printf "%s:%s" $repository $tag -}}
{{- if $image.digest }}{{ $ref = printf "%s@%s" $ref $image.digest }}{{ end -}}
- name: {{ default "startup-lock" $cfg.name }}
  image: {{ $ref | quote }}
  imagePullPolicy: {{ default "IfNotPresent" $image.pullPolicy }}
  args:
    - acquire
    {{- /* port, duration, timeout, failOpenAfter: generated from the acquire option table */}}
    {{- include "startup-lock-client.acquireArgs" $cfg | trim | nindent 4 }}
    {{- if $cfg.tokenSecret }}
    - --token-file
    - /var/run/startup-lock/token/token
    {{- end }}
  env:
    # The lock server listens on the node; the client connects to HOST_IP when --host is not given.
    - name: HOST_IP
      valueFrom:
        fieldRef:
          fieldPath: status.hostIP
    # The holder is NAMESPACE/POD, so the server can release the lease when this pod turns Ready.
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    - name: POD_UID
      valueFrom:
        fieldRef:
          fieldPath: metadata.uid
  {{- if $cfg.tokenSecret }}
  volumeMounts:
    - name: startup-lock-token
      mountPath: /var/run/startup-lock/token
      readOnly: true
  {{- end }}
  resources:
    {{- if hasKey $cfg "resources" }}
    {{- toYaml $cfg.resources | nindent 4 }}
    {{- else }}
    requests:
      cpu: 10m
      memory: 48Mi
    limits:
      memory: 128Mi
    {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: {{ default 65532 $cfg.runAsUser | int }}
    runAsGroup: 65532
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities:
      drop:
        - ALL
    seccompProfile:
      type: RuntimeDefault
{{- end }}
{{- end }}

{{/* The pod volume the init container needs with startupLock.tokenSecret; renders nothing otherwise. */}}
{{- define "startup-lock-client.volumes" -}}
{{- if include "startup-lock-client.enabled" . }}
{{- $cfg := include "startup-lock-client.settings" . | fromYaml -}}
{{- if $cfg.tokenSecret -}}
- name: startup-lock-token
  secret:
    secretName: {{ $cfg.tokenSecret | quote }}
    items:
      - key: token
        path: token
{{- end }}
{{- end }}
{{- end }}
