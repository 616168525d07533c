{{/*
The chart name, or nameOverride: the app.kubernetes.io/name label.
*/}}
{{- define "content-classifier.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of every resource: fullnameOverride, else <release>-<name> (just the release
name when it already contains the chart name). 63 characters at most (DNS label).
*/}}
{{- define "content-classifier.fullname" -}}
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

{{- define "content-classifier.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: only name and instance (they never change over a release's life).
*/}}
{{- define "content-classifier.selectorLabels" -}}
app.kubernetes.io/name: {{ include "content-classifier.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The feedback consumer's selector: a name of its own, so the worker's never match it. */}}
{{- define "content-classifier.feedbackSelectorLabels" -}}
app.kubernetes.io/name: {{ include "content-classifier.name" . }}-feedback
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "content-classifier.feedbackLabels" -}}
helm.sh/chart: {{ include "content-classifier.chart" . }}
{{ include "content-classifier.feedbackSelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/component: feedback
app.kubernetes.io/part-of: content-classifier
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The HTTP API's selector (`content-classifier serve`): a name of its own, like feedback's. */}}
{{- define "content-classifier.serveSelectorLabels" -}}
app.kubernetes.io/name: {{ include "content-classifier.name" . }}-serve
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "content-classifier.serveLabels" -}}
helm.sh/chart: {{ include "content-classifier.chart" . }}
{{ include "content-classifier.serveSelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/component: serve
app.kubernetes.io/part-of: content-classifier
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "content-classifier.labels" -}}
helm.sh/chart: {{ include "content-classifier.chart" . }}
{{ include "content-classifier.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/component: worker
app.kubernetes.io/part-of: content-classifier
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "content-classifier.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "content-classifier.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "content-classifier.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* SASL is on with SASL_PLAINTEXT and SASL_SSL; TLS with SSL and SASL_SSL. */}}
{{- define "content-classifier.saslEnabled" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{ end }}
{{- end }}

{{- define "content-classifier.tlsEnabled" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") }}true{{ end }}
{{- end }}

{{/* Files of the TLS Secret inside the container. */}}
{{- define "content-classifier.tlsDir" -}}/etc/kafka/tls{{- end }}

{{/* Where the model signing key's Secret is mounted. */}}
{{- define "content-classifier.signingKeyDir" -}}/etc/content-classifier/model-signing{{- end }}

{{/* MODEL_PATH: model.path, else the mounted volume's folder, else the image's default. */}}
{{- define "content-classifier.modelPath" -}}
{{- if .Values.model.path }}
{{- .Values.model.path }}
{{- else if .Values.model.volume }}
{{- printf "%s/%s" (trimSuffix "/" .Values.model.mountPath) .Values.model.subPath }}
{{- end }}
{{- end }}

{{/* Where the policy file's ConfigMap is mounted. */}}
{{- define "content-classifier.policyDir" -}}
/etc/content-classifier/policies
{{- end }}

{{/* Where the API keys' Secret is mounted (SERVE_API_KEYS_FILE is `<dir>/keys`). */}}
{{- define "content-classifier.apiKeysDir" -}}/etc/content-classifier/api-keys{{- end }}

{{/*
The settings the worker and the HTTP API share, so that both answer with the same model,
thresholds and limits: rendered into the worker's ConfigMap and the API's.
*/}}
{{- define "content-classifier.sharedSettings" -}}
MAX_TEXT_CHARS: {{ .Values.config.maxTextChars | int64 | quote }}
MODEL_RELOAD_INTERVAL_S: {{ .Values.config.modelReloadIntervalS | quote }}
MODEL_THREADS: {{ .Values.model.threads | quote }}
SHUTDOWN_TIMEOUT_S: {{ .Values.config.shutdownTimeoutS | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
LOG_FORMAT: {{ .Values.config.logFormat | quote }}
{{- with include "content-classifier.modelPath" . }}
MODEL_PATH: {{ . | quote }}
{{- end }}
{{- if .Values.model.signingKey.existingSecret }}
MODEL_SIGNING_KEY_FILE: {{ printf "%s/key" (include "content-classifier.signingKeyDir" .) | quote }}
{{- end }}
{{- if .Values.policies.file }}
POLICY_FILE: {{ printf "%s/policies.toml" (include "content-classifier.policyDir" .) | quote }}
{{- end }}
{{- with .Values.policies.metadataKey }}
POLICY_METADATA_KEY: {{ . | quote }}
{{- end }}
{{- end }}

{{/* The model's volume mounts (models, policies, signing key), the same in the worker and the API. */}}
{{- define "content-classifier.modelVolumeMounts" -}}
{{- if .Values.model.volume }}
- name: models
  mountPath: {{ .Values.model.mountPath }}
  readOnly: true
{{- end }}
{{- if .Values.policies.file }}
- name: policies
  mountPath: {{ include "content-classifier.policyDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.model.signingKey.existingSecret }}
- name: model-signing-key
  mountPath: {{ include "content-classifier.signingKeyDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* The volumes of those mounts. */}}
{{- define "content-classifier.modelVolumes" -}}
{{- if .Values.model.volume }}
- name: models
  {{- toYaml .Values.model.volume | nindent 2 }}
{{- end }}
{{- if .Values.policies.file }}
- name: policies
  configMap:
    name: {{ include "content-classifier.fullname" . }}-policies
{{- end }}
{{- if .Values.model.signingKey.existingSecret }}
- name: model-signing-key
  secret:
    secretName: {{ .Values.model.signingKey.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.model.signingKey.key }}
        path: key
{{- end }}
{{- end }}

{{/*
The NetworkPolicy rules of a Kafka client of the chart (the worker, the feedback consumer):
ingress only to its metrics port, egress only to DNS, the Kafka brokers and
networkPolicy.extraEgress. One definition, so that the two never drift apart.
*/}}
{{- define "content-classifier.kafkaClientPolicyRules" -}}
policyTypes:
  - Ingress
  - Egress
ingress:
  # Scrapes of /metrics (and probes, where the network plugin filters them).
  - ports:
      - port: http
        protocol: TCP
    {{- with .Values.networkPolicy.metricsFrom }}
    from:
      {{- toYaml . | nindent 6 }}
    {{- end }}
egress:
  # DNS.
  - ports:
      - port: 53
        protocol: UDP
      - port: 53
        protocol: TCP
  # The Kafka brokers.
  - ports:
      {{- range .Values.networkPolicy.kafkaPorts }}
      - port: {{ . }}
        protocol: TCP
      {{- end }}
    {{- with .Values.networkPolicy.kafkaTo }}
    to:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  {{- with .Values.networkPolicy.extraEgress }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* SHADOW_MODEL_PATH: shadow.path, or shadow.subPath below the models volume; empty: none. */}}
{{- define "content-classifier.shadowModelPath" -}}
{{- if .Values.shadow.path }}
{{- .Values.shadow.path }}
{{- else if and .Values.shadow.subPath .Values.model.volume }}
{{- printf "%s/%s" (trimSuffix "/" .Values.model.mountPath) .Values.shadow.subPath }}
{{- else if .Values.shadow.subPath }}
{{- fail "shadow.subPath needs model.volume (the shadow's folder is read from the models volume)" }}
{{- end }}
{{- end }}

{{/* The replica ceiling of whatever sets the replicas. */}}
{{- define "content-classifier.maxReplicas" -}}
{{- if .Values.keda.enabled }}
{{- .Values.keda.maxReplicaCount }}
{{- else if .Values.autoscaling.enabled }}
{{- .Values.autoscaling.maxReplicas }}
{{- else }}
{{- .Values.replicaCount }}
{{- end }}
{{- end }}

{{/*
Checks the schema cannot express (they compare two values). Included by the Deployment, so
`helm template` and `helm install` fail before anything is applied.
*/}}
{{- define "content-classifier.validate" -}}
{{- $partitions := int .Values.inputTopic.partitions }}
{{- if and .Values.keda.enabled .Values.autoscaling.enabled }}
{{- fail "keda.enabled and autoscaling.enabled are exclusive: KEDA creates its own HPA, and two autoscalers would fight over the replicas" }}
{{- end }}
{{- $max := int (include "content-classifier.maxReplicas" .) }}
{{- if gt $max $partitions }}
{{- $field := ternary "keda.maxReplicaCount" (ternary "autoscaling.maxReplicas" "replicaCount" .Values.autoscaling.enabled) .Values.keda.enabled }}
{{- fail (printf "%s (%d) exceeds inputTopic.partitions (%d): a worker beyond the partition count gets no partition and sits idle" $field $max $partitions) }}
{{- end }}
{{- if and .Values.keda.enabled (gt (int .Values.keda.minReplicaCount) (int .Values.keda.maxReplicaCount)) }}
{{- fail "keda.minReplicaCount exceeds keda.maxReplicaCount" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas exceeds autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not .Values.autoscaling.lag.enabled) (not .Values.autoscaling.targetCPUUtilizationPercentage) }}
{{- fail "autoscaling needs a metric: set autoscaling.targetCPUUtilizationPercentage or autoscaling.lag.enabled (or use keda.enabled for lag)" }}
{{- end }}
{{- if le (float64 .Values.terminationGracePeriodSeconds) (float64 .Values.config.shutdownTimeoutS) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed config.shutdownTimeoutS (%v): the worker needs that long to finish its batch, commit and leave the group before Kubernetes kills it" .Values.terminationGracePeriodSeconds .Values.config.shutdownTimeoutS) }}
{{- end }}
{{- with .Values.config.groupStallS }}
{{- $sessionS := divf (index $.Values.kafka.extraProperties "session.timeout.ms" | default 45000) 1000 }}
{{- if lt (float64 .) $sessionS }}
{{- fail (printf "config.groupStallS (%v) must be at least the session timeout (%v s, session.timeout.ms in kafka.extraProperties): a join takes up to that long, and the worker refuses to start" . $sessionS) }}
{{- end }}
{{- end }}
{{- if and (include "content-classifier.saslEnabled" .) (not .Values.kafka.sasl.existingSecret) }}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.existingSecret: the name of a Secret with the SASL username and password" .Values.kafka.securityProtocol) }}
{{- end }}
{{- if ne (empty .Values.kafka.tls.certKey) (empty .Values.kafka.tls.keyKey) }}
{{- fail "kafka.tls.certKey and kafka.tls.keyKey go together (mutual TLS)" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not (contains "content-classifier" .Values.serviceMonitor.jobName)) }}
{{- fail "serviceMonitor.jobName must contain \"content-classifier\": the alerts ContentClassifierWorkerDown and ContentClassifierApiDown select the scrape jobs by name (<jobName>, <jobName>-serve)" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (regexMatch "-(serve|feedback)$" .Values.serviceMonitor.jobName) }}
{{- fail "serviceMonitor.jobName must not end in -serve or -feedback: those suffixes mark the API's and the feedback consumer's jobs, which ContentClassifierWorkerDown leaves out" }}
{{- end }}
{{- end }}

{{/* The API's checks: who may call it must be a decision, not an accident. */}}
{{- define "content-classifier.validateServe" -}}
{{- if and .Values.serve.anonymous .Values.serve.apiKeys.existingSecret }}
{{- fail "serve.anonymous and serve.apiKeys.existingSecret are exclusive: with keys, every call needs one, and anonymous would be ignored" }}
{{- end }}
{{- if not (or .Values.serve.anonymous .Values.serve.apiKeys.existingSecret) }}
{{- fail "serve.enabled needs serve.apiKeys.existingSecret (a Secret of `name:key` lines, SERVE_API_KEYS_FILE), or serve.anonymous=true to let anyone call the API" }}
{{- end }}
{{- end }}

{{/*
The worker's env entries beside the ConfigMap: secrets through secretKeyRef only, then extraEnv.
*/}}
{{- define "content-classifier.env" -}}
{{- $tlsSecret := and (include "content-classifier.tlsEnabled" .) .Values.kafka.tls.existingSecret }}
{{- if include "content-classifier.saslEnabled" . }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.usernameKey }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- if and $tlsSecret .Values.kafka.tls.keyPasswordKey }}
- name: KAFKA_SSL_KEY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.tls.existingSecret }}
      key: {{ .Values.kafka.tls.keyPasswordKey }}
{{- end }}
{{- range .Values.kafka.extraSecretProperties }}
- name: {{ printf "KAFKA_%s" (.property | replace "." "_" | upper) }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
{{- end }}
{{- with .Values.extraEnv }}
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end }}
