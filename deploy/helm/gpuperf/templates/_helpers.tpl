{{/* The chart's name. */}}
{{- define "gpuperf.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name, the prefix of every object. */}}
{{- define "gpuperf.fullname" -}}
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

{{- define "gpuperf.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "gpuperf.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gpuperf.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gpuperf.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gpuperf.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "gpuperf.agentTLSSecret" -}}
{{- default (printf "%s-agent-tls" (include "gpuperf.fullname" .)) .Values.tls.agentSecret -}}
{{- end -}}

{{- define "gpuperf.coordinatorTLSSecret" -}}
{{- default (printf "%s-coordinator-tls" (include "gpuperf.fullname" .)) .Values.tls.coordinatorSecret -}}
{{- end -}}

{{- define "gpuperf.tokenSecret" -}}
{{- default (printf "%s-token" (include "gpuperf.fullname" .)) .Values.token.existingSecret -}}
{{- end -}}

{{/* The headless Service over every agent. */}}
{{- define "gpuperf.agentsService" -}}
{{- printf "%s-agents" (include "gpuperf.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Service's DNS name: what the coordinator resolves and the agents' certificate names. */}}
{{- define "gpuperf.agentsHost" -}}
{{- printf "%s.%s.svc.%s" (include "gpuperf.agentsService" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{- define "gpuperf.resultsClaim" -}}
{{- default (printf "%s-results" (include "gpuperf.fullname" .)) .Values.coordinator.persistence.existingClaim -}}
{{- end -}}
