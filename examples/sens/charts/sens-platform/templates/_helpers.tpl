{{/*
Shared helpers. Most take a "component context": a dict with
  root       the chart's top-level context ($)
  component  the component name (platform-api, timescaledb, ...)
  c          the component's values
(templates build it with dict). The version label is the component's image tag. Strings
are emitted with toJson (a JSON string is a YAML 1.1- and 1.2-safe double-quoted scalar),
numbers through int.
*/}}

{{/* <release>-<component>: the runbook's deployment/sens-platform-test-platform-api. */}}
{{- define "sens.fullname" -}}
{{- printf "%s-%s" .root.Release.Name .component -}}
{{- end -}}

{{/* The image tag of a component: its own, else (SENS services) the release's `tag`, else the
     chart's appVersion. */}}
{{- define "sens.tag" -}}
{{- .c.image.tag | default .root.Values.tag | default .root.Chart.AppVersion | toString -}}
{{- end -}}

{{- define "sens.image" -}}
{{- printf "%s:%s" .c.image.repository (include "sens.tag" .) -}}
{{- end -}}

{{/* Selector labels: stable for the lifetime of a workload (never the version). */}}
{{- define "sens.selectorLabels" -}}
app.kubernetes.io/name: {{ .component | toJson }}
app.kubernetes.io/instance: {{ .root.Release.Name | toJson }}
{{- end -}}

{{/* The standard labels of every object of a component. */}}
{{- define "sens.labels" -}}
{{ include "sens.selectorLabels" . }}
app.kubernetes.io/version: {{ include "sens.tag" . | toJson }}
app.kubernetes.io/part-of: {{ .root.Values.partOf | toJson }}
app.kubernetes.io/managed-by: {{ .root.Values.managedBy | default .root.Release.Service | toJson }}
{{- end -}}

{{/* Metadata of a namespaced object of a component: name, namespace, labels. */}}
{{- define "sens.metadata" -}}
name: {{ include "sens.fullname" . | toJson }}
namespace: {{ .root.Release.Namespace | toJson }}
labels:
  {{- include "sens.labels" . | nindent 2 }}
{{- end -}}

{{/* A string map (labels, annotations), keys sorted, values quoted. Empty: nothing. */}}
{{- define "sens.stringMap" -}}
{{- range $k, $v := . }}
{{ $k | toJson }}: {{ $v | toString | toJson }}
{{- end -}}
{{- end -}}

{{/* Pod template labels: the standard labels plus podLabels (the standard ones win). */}}
{{- define "sens.podLabels" -}}
{{- $std := include "sens.labels" . | fromYaml -}}
{{- $all := merge $std (.c.podLabels | default dict) -}}
{{- include "sens.stringMap" $all | trim -}}
{{- end -}}

{{/* Probe timings. */}}
{{- define "sens.probeTiming" -}}
initialDelaySeconds: {{ .initialDelaySeconds | int }}
periodSeconds: {{ .periodSeconds | int }}
timeoutSeconds: {{ .timeoutSeconds | int }}
failureThreshold: {{ .failureThreshold | int }}
{{- end -}}

{{/* An HTTP GET probe: dict "path" "port" "p" (the probe's own path wins). */}}
{{- define "sens.httpProbe" -}}
httpGet:
  path: {{ .p.path | default .path | toJson }}
  port: {{ .port | int }}
{{ include "sens.probeTiming" .p }}
{{- end -}}

{{/* Container env from plain `env` then `secretEnv` (Secret references, never values). */}}
{{- define "sens.envList" -}}
{{- range $k, $v := .env }}
- name: {{ $k | toJson }}
  value: {{ $v | toString | toJson }}
{{- end }}
{{- range $k, $ref := .secretEnv }}
- name: {{ $k | toJson }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secret | toJson }}
      key: {{ $ref.key | toJson }}
{{- end -}}
{{- end -}}

{{/* The TimescaleDB auth Secret's name: database.authSecret, else seed 004's convention
     <namespace>-timescaledb-auth (sens-test-timescaledb-auth). */}}
{{- define "sens.authSecret" -}}
{{- .Values.database.authSecret | default (printf "%s-timescaledb-auth" .Release.Namespace) -}}
{{- end -}}

{{/* Container resources, values quoted. */}}
{{- define "sens.resources" -}}
{{- range $section := list "requests" "limits" }}
{{- with index $ $section }}
{{ $section }}:
{{- range $k, $v := . }}
  {{ $k }}: {{ $v | toString | toJson }}
{{- end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Pod-level hardening: the runtime's default seccomp profile. */}}
{{- define "sens.podSeccomp" -}}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Baseline container hardening: no privilege escalation, no Linux capabilities. */}}
{{- define "sens.containerSecurity" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Replicated workloads spread across nodes (rendered when replicas >= 2). */}}
{{- define "sens.antiAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "sens.selectorLabels" . | nindent 12 }}
{{- end -}}

{{/* Zero-downtime rollout: an old pod stays until its replacement is ready. */}}
{{- define "sens.rollingUpdate" -}}
type: RollingUpdate
rollingUpdate:
  maxUnavailable: 0
  maxSurge: 1
{{- end -}}

{{/* A PodDisruptionBudget for a component with replicas >= 2 (on a singleton minAvailable 1
     would block every node drain). */}}
{{- define "sens.pdb" -}}
{{- if ge (.c.replicas | int) 2 }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "sens.metadata" . | nindent 2 }}
spec:
  minAvailable: 1
  selector:
    matchLabels:
      {{- include "sens.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* One ServiceAccount per component. No SENS component calls the Kubernetes API, so the
     token is never mounted. */}}
{{- define "sens.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "sens.metadata" . | nindent 2 }}
automountServiceAccountToken: false
{{- end -}}

{{/* The NATS server configuration (its checksum rolls the pod). */}}
{{- define "sens.natsConf" -}}
port: {{ .c.port | int }}
http_port: {{ .c.monitorPort | int }}
server_name: {{ include "sens.fullname" . | toJson }}
jetstream {
  store_dir: "/data"
  max_memory_store: {{ .c.jetstream.maxMemoryStore }}
  max_file_store: {{ .c.jetstream.maxFileStore }}
}
{{- end -}}
