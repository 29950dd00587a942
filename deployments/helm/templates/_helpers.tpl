{{/* The chart's name, cut to the 63 characters of a DNS label. */}}
{{- define "nestor-catalog.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The objects' name: the release name, unless it already holds the chart's name. */}}
{{- define "nestor-catalog.fullname" -}}
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

{{- define "nestor-catalog.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nestor-catalog.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "nestor-catalog.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "nestor-catalog.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: nestor
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "nestor-catalog.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nestor-catalog.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "nestor-catalog.secretName" -}}
{{- default (printf "%s-secrets" (include "nestor-catalog.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "nestor-catalog.jwtSecretName" -}}
{{- default (printf "%s-jwt" (include "nestor-catalog.fullname" .)) .Values.jwt.existingSecret }}
{{- end }}
