{{/* The labels every object of an app carries (kiln's _lib/k8s.j2 labels macro). */}}
{{- define "fleet.labels" -}}
app: {{ .name | toJson }}
app.kubernetes.io/name: {{ .name | toJson }}
app.kubernetes.io/component: "web"
app.kubernetes.io/part-of: {{ .platform | toJson }}
app.kubernetes.io/managed-by: kiln
{{- end }}

{{/* An HTTP GET probe from {path, port, p: {initial_delay, period, timeout, failure_threshold}}. */}}
{{- define "fleet.probe" -}}
httpGet:
  path: {{ .path | toJson }}
  port: {{ .port }}
initialDelaySeconds: {{ .p.initial_delay }}
periodSeconds: {{ .p.period }}
timeoutSeconds: {{ .p.timeout }}
failureThreshold: {{ .p.failure_threshold }}
{{- end }}

