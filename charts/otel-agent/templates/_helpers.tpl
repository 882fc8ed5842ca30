{{/* Chart name, overridable. */}}
{{- define "otel-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified name: <release>-<name>, or the release when it contains the name. */}}
{{- define "otel-agent.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "otel-agent.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "otel-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "otel-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "otel-agent.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Selector labels (immutable on the DaemonSet). */}}
{{- define "otel-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otel-agent.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{/* All labels: the chart's own, then commonLabels (extra: a further dict), then the
     selector labels, each winning over the ones before. Keys sorted, values quoted. */}}
{{- define "otel-agent.labelsWith" -}}
{{- $root := .root -}}
{{- $labels := dict
      "helm.sh/chart" (include "otel-agent.chart" $root)
      "app.kubernetes.io/version" ($root.Values.image.tag | default $root.Chart.AppVersion | toString)
      "app.kubernetes.io/component" "otel-agent"
      "app.kubernetes.io/managed-by" $root.Release.Service -}}
{{- $labels = mergeOverwrite $labels (deepCopy ($root.Values.commonLabels | default dict)) (deepCopy (.extra | default dict)) (include "otel-agent.selectorLabels" $root | fromYaml) -}}
{{- range $k, $v := $labels }}
{{ $k | quote }}: {{ $v | toString | quote }}
{{- end -}}
{{- end -}}

{{- define "otel-agent.labels" -}}
{{- include "otel-agent.labelsWith" (dict "root" .) -}}
{{- end -}}

{{/* The collector configuration (its checksum rolls the agents). */}}
{{- define "otel-agent.config" -}}
{{- $p := .Values.presets -}}
{{- $processors := list "memory_limiter" "k8sattributes" "resourcedetection" -}}
{{- if .Values.clusterName }}{{ $processors = append $processors "resource" }}{{ end -}}
{{- $processors = append $processors "batch" -}}
{{- $metrics := list "otlp" -}}
{{- if $p.hostMetrics.enabled }}{{ $metrics = append $metrics "hostmetrics" }}{{ end -}}
{{- if $p.kubeletMetrics.enabled }}{{ $metrics = append $metrics "kubeletstats" }}{{ end -}}
{{- $logs := list "otlp" -}}
{{- if $p.logsCollection.enabled }}{{ $logs = append $logs "filelog" }}{{ end -}}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:{{ .Values.ports.otlp.containerPort }}
      http:
        endpoint: 0.0.0.0:{{ .Values.ports.otlpHttp.containerPort }}
{{- if $p.hostMetrics.enabled }}
  hostmetrics:
    collection_interval: {{ $p.hostMetrics.collectionInterval }}
    root_path: /hostfs
    scrapers:
      cpu: {}
      load: {}
      memory: {}
      disk: {}
      filesystem: {}
      network: {}
{{- end }}
{{- if $p.kubeletMetrics.enabled }}
  kubeletstats:
    collection_interval: {{ $p.kubeletMetrics.collectionInterval }}
    auth_type: serviceAccount
    endpoint: ${env:K8S_NODE_NAME}:10250
{{- if $p.kubeletMetrics.insecureSkipVerify }}
    # k3s serves the kubelet with a self-signed certificate.
    insecure_skip_verify: true
{{- end }}
    metric_groups: [container, pod, node, volume]
{{- end }}
{{- if $p.logsCollection.enabled }}
  filelog:
    include: [/var/log/pods/*/*/*.log]
    # The agent's own logs would feed back into itself.
    exclude: [/var/log/pods/{{ .Release.Namespace }}_{{ include "otel-agent.fullname" . }}*/*/*.log]
    start_at: {{ $p.logsCollection.startAt }}
    include_file_path: true
    operators:
      - type: container
{{- end }}
processors:
  memory_limiter:
    check_interval: {{ .Values.memoryLimiter.checkInterval }}
    limit_percentage: {{ .Values.memoryLimiter.limitPercentage }}
    spike_limit_percentage: {{ .Values.memoryLimiter.spikeLimitPercentage }}
  k8sattributes:
    passthrough: false
    filter:
      node_from_env_var: K8S_NODE_NAME
    extract:
      metadata:
        - k8s.namespace.name
        - k8s.pod.name
        - k8s.pod.uid
        - k8s.deployment.name
        - k8s.statefulset.name
        - k8s.daemonset.name
        - k8s.node.name
        - k8s.container.name
    pod_association:
      - sources:
          - from: resource_attribute
            name: k8s.pod.uid
      - sources:
          - from: resource_attribute
            name: k8s.pod.ip
      - sources:
          - from: connection
  resourcedetection:
    detectors: [env, system]
    timeout: 2s
{{- if .Values.clusterName }}
  resource:
    attributes:
      - key: k8s.cluster.name
        value: {{ .Values.clusterName }}
        action: upsert
{{- end }}
  batch:
    send_batch_size: {{ .Values.batch.sendBatchSize }}
    timeout: {{ .Values.batch.timeout }}
exporters:
  otlp:
    endpoint: {{ required "otel-agent: signoz.endpoint is required" .Values.signoz.endpoint }}
    tls:
      insecure: {{ .Values.signoz.insecure }}
extensions:
  health_check:
    endpoint: 0.0.0.0:{{ .Values.ports.health.containerPort }}
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [{{ join ", " $processors }}]
      exporters: [otlp]
    metrics:
      receivers: [{{ join ", " $metrics }}]
      processors: [{{ join ", " $processors }}]
      exporters: [otlp]
    logs:
      receivers: [{{ join ", " $logs }}]
      processors: [{{ join ", " $processors }}]
      exporters: [otlp]
{{ end -}}
