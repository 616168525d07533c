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
{{- if and (include "content-classifier.saslEnabled" .) (not .Values.kafka.sasl.existingSecret) }}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.existingSecret: the name of a Secret with the SASL username and password" .Values.kafka.securityProtocol) }}
{{- end }}
{{- if ne (empty .Values.kafka.tls.certKey) (empty .Values.kafka.tls.keyKey) }}
{{- fail "kafka.tls.certKey and kafka.tls.keyKey go together (mutual TLS)" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not (contains "content-classifier" .Values.serviceMonitor.jobName)) }}
{{- fail "serviceMonitor.jobName must contain \"content-classifier\": the alert ContentClassifierWorkerDown selects the scrape job by name" }}
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
