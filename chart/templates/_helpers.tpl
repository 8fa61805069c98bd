{{/* Chart name. */}}
{{- define "kapsa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects (also the Service, so the hook URL). */}}
{{- define "kapsa.fullname" -}}
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

{{- define "kapsa.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels of every object. */}}
{{- define "kapsa.labels" -}}
helm.sh/chart: {{ include "kapsa.chart" . }}
{{ include "kapsa.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kapsa
{{- end }}

{{- define "kapsa.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kapsa.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kapsa.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kapsa.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kapsa.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "kapsa.tokenSecretName" -}}
{{- default (printf "%s-webhook-token" (include "kapsa.fullname" .)) .Values.webhookAuth.existingSecret }}
{{- end }}

{{- define "kapsa.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "kapsa.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/* Base URL of the hooks as Metacontroller reaches them. */}}
{{- define "kapsa.hookBaseUrl" -}}
{{- if .Values.controllers.baseUrl }}
{{- .Values.controllers.baseUrl | trimSuffix "/" }}
{{- else }}
{{- printf "%s://%s.%s.svc:%d" (ternary "https" "http" .Values.tls.enabled) (include "kapsa.fullname" .) .Release.Namespace (int .Values.service.port) }}
{{- end }}
{{- end }}

{{/*
The webhook fields that depend on values, for every hook of every controller (used by the
generated controllers.yaml): ETag caching (sync hooks), the bearer token, the CA bundle.
Context: dict "root" $ "hook" "<sync|customize|finalize>".
*/}}
{{- define "kapsa.webhookOptions" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- if and $v.controllers.etag.enabled (eq .hook "sync") }}
etag:
  enabled: true
  cacheTimeoutSeconds: {{ int $v.controllers.etag.cacheTimeoutSeconds }}
  cacheCleanupSeconds: {{ int $v.controllers.etag.cacheCleanupSeconds }}
{{- end }}
{{- if $v.webhookAuth.enabled }}
authorization:
  type: Bearer
  secretRef:
    name: {{ include "kapsa.tokenSecretName" $root }}
    namespace: {{ $root.Release.Namespace }}
    key: {{ $v.webhookAuth.secretKey }}
{{- end }}
{{- if $v.tls.enabled }}
caBundle:
{{- if $v.tls.caBundle }}
  inline: {{ $v.tls.caBundle | quote }}
{{- else }}
  secretRef:
    name: {{ include "kapsa.tlsSecretName" $root }}
    namespace: {{ $root.Release.Namespace }}
    key: {{ $v.tls.caKey }}
{{- end }}
{{- end }}
{{- end }}

{{/* Checks of value combinations the schema cannot express. */}}
{{- define "kapsa.validate" -}}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) }}
{{- fail "tls.certManager.enabled needs tls.certManager.issuerRef.name" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) (not .Values.tls.certManager.enabled) }}
{{- fail "tls.enabled needs tls.secretName (a kubernetes.io/tls Secret) or tls.certManager.enabled" }}
{{- end }}
{{- if and .Values.metrics.port (eq (int .Values.metrics.port) (int .Values.server.port)) }}
{{- fail "metrics.port must differ from server.port (or be 0 to serve /metrics on the hook port)" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- if and .Values.projectNamespaceDefaults.kyverno.enabled (not .Values.projectNamespaceDefaults.enabled) }}
{{- fail "projectNamespaceDefaults.kyverno.enabled needs projectNamespaceDefaults.enabled" }}
{{- end }}
{{- end }}

{{/*
The webhook token: the one already in the cluster (kept across upgrades), else a new random one.
Memoized in .Values so the Secret and the Deployment's checksum see the same token in one render.
*/}}
{{- define "kapsa.webhookToken" -}}
{{- if not (hasKey .Values "__kapsaWebhookToken") }}
{{- $token := "" }}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "kapsa.tokenSecretName" .) }}
{{- if and $secret $secret.data (hasKey $secret.data .Values.webhookAuth.secretKey) }}
{{- $token = index $secret.data .Values.webhookAuth.secretKey | b64dec }}
{{- else }}
{{- $token = randAlphaNum 48 }}
{{- end }}
{{- $_ := set .Values "__kapsaWebhookToken" $token }}
{{- end }}
{{- index .Values "__kapsaWebhookToken" }}
{{- end }}

{{/* The Secret holding the push-webhook receiver key: the one named in values, else the generated one. */}}
{{- define "kapsa.receiverKeySecretName" -}}
{{- .Values.receiver.keySecretRef.name | default (printf "%s-receiver-key" (include "kapsa.fullname" .)) -}}
{{- end }}

{{/*
The receiver key: read back from the generated Secret when it exists (so upgrades keep every
Project's webhook token), else generated once per render.
*/}}
{{- define "kapsa.receiverKey" -}}
{{- if not (hasKey .Values "__kapsaReceiverKey") }}
{{- $key := "" }}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "kapsa.receiverKeySecretName" .) }}
{{- if and $secret $secret.data (hasKey $secret.data .Values.receiver.keySecretRef.key) }}
{{- $key = index $secret.data .Values.receiver.keySecretRef.key | b64dec }}
{{- else }}
{{- $key = randAlphaNum 64 }}
{{- end }}
{{- $_ := set .Values "__kapsaReceiverKey" $key }}
{{- end }}
{{- index .Values "__kapsaReceiverKey" }}
{{- end }}
