{{/* Chart name, release-scoped full name. */}}
{{- define "firebreak.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "firebreak.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "firebreak.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "firebreak.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: firebreak
{{- end -}}

{{/*
Selector labels of one component. Every selector carries the component: a selector on
name and instance alone also matches a database sharing the release (the 50 % 502
"selector trap").
*/}}
{{- define "firebreak.selectorLabels" -}}
app.kubernetes.io/name: {{ include "firebreak.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "firebreak.componentLabels" -}}
{{ include "firebreak.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "firebreak.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "firebreak.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "firebreak.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "firebreak.embedderImage" -}}
{{- $e := .Values.embedder.image -}}
{{- $tag := default .Chart.AppVersion $e.tag -}}
{{- if .Values.embedder.gpu.enabled -}}
{{- $tag = default (printf "%s-cuda" $tag) $e.cudaTag -}}
{{- end -}}
{{- printf "%s:%s" $e.repository $tag -}}
{{- end -}}

{{- define "firebreak.secretName" -}}
{{- default (printf "%s-tokens" (include "firebreak.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "firebreak.cnpgName" -}}
{{- printf "%s-db" (include "firebreak.fullname" .) | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/* Node affinity to the image's architectures, merged into each pod's affinity. */}}
{{- define "firebreak.archAffinity" -}}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      - matchExpressions:
          - key: kubernetes.io/arch
            operator: In
            values:
              {{- toYaml .Values.image.architectures | nindent 14 }}
{{- end -}}

{{/* Pod-level security context and the settings every pod shares. */}}
{{- define "firebreak.podCommon" -}}
serviceAccountName: {{ include "firebreak.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Whether the gateway needs a persistent data directory. */}}
{{- define "firebreak.gatewayNeedsVolume" -}}
{{- if or (eq .Values.postgresql.mode "embedded") (not .Values.qdrant.url) -}}true{{- end -}}
{{- end -}}
