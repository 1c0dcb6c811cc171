{{- define "deploycheck.fullname" -}}
{{- printf "%s-deploycheck" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "deploycheck.labels" -}}
app.kubernetes.io/name: deploycheck
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The container parts every Job shares: image, the environment file, the secrets. */}}
{{- define "deploycheck.image" -}}
image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- end -}}

{{- define "deploycheck.envFrom" -}}
envFrom:
  - secretRef:
      name: {{ .Values.secretName }}
      optional: true
env:
  - name: DEPLOYCHECK_ENVIRONMENTS_DIR
    value: /etc/deploycheck/environments
  {{- with .Values.expectedVersion }}
  - name: EXPECTED_VERSION
    value: {{ . | quote }}
  {{- end }}
{{- end -}}

{{- define "deploycheck.environmentMount" -}}
- name: environments
  mountPath: /etc/deploycheck/environments
  readOnly: true
{{- end -}}

{{- define "deploycheck.environmentVolume" -}}
- name: environments
  configMap:
    name: {{ include "deploycheck.fullname" . }}-environments
{{- end -}}
