{{/* Labels every object of the chart carries. */}}
{{- define "egressgate.labels" -}}
app.kubernetes.io/name: egress-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The operator pods' selector. */}}
{{- define "egressgate.selector" -}}
app.kubernetes.io/name: egress-operator
{{- end }}

{{/* An image reference: registry/name:tag, the tag defaulting to appVersion. */}}
{{- define "egressgate.image" -}}
{{- $root := index . 0 }}{{- $name := index . 1 -}}
{{- printf "%s/%s:%s" $root.Values.image.registry $name (default $root.Chart.AppVersion $root.Values.image.tag) }}
{{- end }}

{{/* The port of a bind address such as ":8080" or "0.0.0.0:8080". */}}
{{- define "egressgate.port" -}}
{{- splitList ":" . | last }}
{{- end }}

{{/* The namespace of the generated gateways (the operator's --gateway-namespace). */}}
{{- define "egressgate.gatewayNamespace" -}}
{{- index .Values.operator.flags "gateway-namespace" | default .Release.Namespace }}
{{- end }}
