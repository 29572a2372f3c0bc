{{/* firebreak.name is the chart's name, or nameOverride. */}}
{{- define "firebreak.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* firebreak.fullname names every object of the release. */}}
{{- define "firebreak.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "firebreak.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "firebreak.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "firebreak.selectorLabels" -}}
app.kubernetes.io/name: {{ include "firebreak.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "firebreak.labels" -}}
{{ include "firebreak.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "firebreak.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "firebreak.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* firebreak.hasPlaybooks is "true" when playbooks come from a ConfigMap. */}}
{{- define "firebreak.hasPlaybooks" -}}
{{- if or .Values.playbooks .Values.existingPlaybooksConfigMap -}}true{{- end -}}
{{- end -}}

{{/* firebreak.config renders firebreak.yaml: the values' config with the
keys the chart owns set over it. */}}
{{- define "firebreak.config" -}}
{{- $managed := dict "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) "data_dir" "/data" -}}
{{- if include "firebreak.hasPlaybooks" . -}}
{{- $_ := set $managed "playbooks" (list "/etc/firebreak/playbooks") -}}
{{- end -}}
{{- if .Values.cluster.enabled -}}
{{- $etcd := dict "endpoints" .Values.cluster.etcd.endpoints "prefix" .Values.cluster.etcd.prefix -}}
{{- if .Values.cluster.etcd.tlsSecret -}}
{{- $_ := set $etcd "tls" (dict "ca_file" "/etc/firebreak/etcd-tls/ca.crt" "cert_file" "/etc/firebreak/etcd-tls/tls.crt" "key_file" "/etc/firebreak/etcd-tls/tls.key") -}}
{{- end -}}
{{- $_ := set $managed "store" (dict "etcd" $etcd) -}}
{{- end -}}
{{- toYaml (mergeOverwrite (deepCopy (.Values.config | default dict)) $managed) -}}
{{- end -}}

{{/* firebreak.podTemplate is the pod of both modes. */}}
{{- define "firebreak.podTemplate" -}}
metadata:
  labels:
    {{- include "firebreak.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- if not .Values.existingConfigMap }}
    checksum/config: {{ include "firebreak.config" . | sha256sum }}
    {{- end }}
    {{- if .Values.playbooks }}
    checksum/playbooks: {{ toYaml .Values.playbooks | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "firebreak.serviceAccountName" . }}
  automountServiceAccountToken: true
  enableServiceLinks: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: 30
  containers:
    - name: firebreak
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["--config=/etc/firebreak/config/firebreak.yaml"]
      ports:
        - name: http
          containerPort: {{ .Values.containerPort }}
          protocol: TCP
      {{- with .Values.secrets.env }}
      env:
        {{- range . }}
        - name: {{ .name }}
          valueFrom:
            secretKeyRef:
              name: {{ .secretName }}
              key: {{ .key }}
        {{- end }}
      {{- end }}
      livenessProbe:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 10
        failureThreshold: 3
      readinessProbe:
        httpGet: { path: /readyz, port: http }
        periodSeconds: 5
        failureThreshold: 2
      startupProbe:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 2
        failureThreshold: 30
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/firebreak/config
          readOnly: true
        {{- if include "firebreak.hasPlaybooks" . }}
        - name: playbooks
          mountPath: /etc/firebreak/playbooks
          readOnly: true
        {{- end }}
        - name: data
          mountPath: /data
        {{- if and .Values.cluster.enabled .Values.cluster.etcd.tlsSecret }}
        - name: etcd-tls
          mountPath: /etc/firebreak/etcd-tls
          readOnly: true
        {{- end }}
        {{- range $i, $f := .Values.secrets.files }}
        - name: secret-{{ $i }}
          mountPath: {{ $f.mountPath }}
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ .Values.existingConfigMap | default (printf "%s-config" (include "firebreak.fullname" .)) }}
        items:
          - { key: firebreak.yaml, path: firebreak.yaml }
    {{- if include "firebreak.hasPlaybooks" . }}
    - name: playbooks
      configMap:
        name: {{ .Values.existingPlaybooksConfigMap | default (printf "%s-playbooks" (include "firebreak.fullname" .)) }}
    {{- end }}
    {{- if or .Values.cluster.enabled (not .Values.persistence.enabled) }}
    - name: data
      emptyDir: {}
    {{- end }}
    {{- if and .Values.cluster.enabled .Values.cluster.etcd.tlsSecret }}
    - name: etcd-tls
      secret:
        secretName: {{ .Values.cluster.etcd.tlsSecret }}
        defaultMode: 0440
    {{- end }}
    {{- range $i, $f := .Values.secrets.files }}
    - name: secret-{{ $i }}
      secret:
        secretName: {{ $f.secretName }}
        defaultMode: 0440
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.cluster.enabled }}
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: {{ .Values.cluster.topologySpread.whenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "firebreak.selectorLabels" . | nindent 10 }}
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "firebreak.selectorLabels" . | nindent 10 }}
  {{- end }}
{{- end -}}
