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
keys the chart owns set over it. In clustered mode store.etcd is the
chart's alone (from cluster.etcd) and cluster.node is left unset, so that
each replica is named by its hostname, which Kubernetes sets to the pod's
name. */}}
{{- define "firebreak.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- include "firebreak.noLiteralSecrets" (dict "v" $cfg "path" "config") -}}
{{- if hasKey $cfg "store" -}}
{{- fail "config.store is the chart's: set cluster.enabled and cluster.etcd.* for clustered mode instead" -}}
{{- end -}}
{{- if and (hasKey $cfg "cluster") (hasKey (get $cfg "cluster" | default dict) "node") -}}
{{- fail "config.cluster.node must not be set: the replicas would share one name; each is named by its pod's hostname" -}}
{{- end -}}
{{- $managed := dict "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) "data_dir" "/data" -}}
{{- if include "firebreak.hasPlaybooks" . -}}
{{- $_ := set $managed "playbooks" (list "/etc/firebreak/playbooks") -}}
{{- end -}}
{{- if .Values.cluster.enabled -}}
{{- $e := .Values.cluster.etcd -}}
{{- $etcd := dict "endpoints" $e.endpoints "prefix" $e.prefix -}}
{{- if $e.tlsSecret -}}
{{- $tls := dict "ca_file" "/etc/firebreak/etcd-tls/ca.crt" -}}
{{- if $e.tlsClientCert -}}
{{- $_ := set $tls "cert_file" "/etc/firebreak/etcd-tls/tls.crt" -}}
{{- $_ := set $tls "key_file" "/etc/firebreak/etcd-tls/tls.key" -}}
{{- end -}}
{{- $_ := set $etcd "tls" $tls -}}
{{- end -}}
{{- if $e.username -}}
{{- $_ := set $etcd "username" $e.username -}}
{{- $_ := set $etcd "password_env" "FIREBREAK_ETCD_PASSWORD" -}}
{{- end -}}
{{- $_ := set $managed "store" (dict "etcd" $etcd) -}}
{{- end -}}
{{- toYaml (mergeOverwrite $cfg $managed) -}}
{{- end -}}

{{/* firebreak.noLiteralSecrets refuses a secret given literally anywhere
in .v (the values' config, at .path): it would be rendered into the
ConfigMap. Firebreak's config spells each secret three ways; the chart
takes only *_env (from secrets.env) and *_file (from secrets.files). */}}
{{- define "firebreak.noLiteralSecrets" -}}
{{- $path := .path -}}
{{- if kindIs "map" .v -}}
{{- range $k, $v := .v -}}
{{- $p := printf "%s.%s" $path $k -}}
{{- if and (has $k (list "token" "password" "secret" "signing_secret" "bot_token")) (kindIs "string" $v) $v -}}
{{- fail (printf "%s: a literal secret would be rendered into the ConfigMap; set %s_env (from secrets.env) or %s_file (from secrets.files) instead" $p $k $k) -}}
{{- end -}}
{{- if and (has $k (list "tokens" "passwords" "secrets")) (kindIs "slice" $v) -}}
{{- range $v -}}
{{- if kindIs "string" . -}}
{{- fail (printf "%s: literal secrets would be rendered into the ConfigMap; set %s_env (from secrets.env) or %s_file (from secrets.files) instead" $p $k $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- include "firebreak.noLiteralSecrets" (dict "v" $v "path" $p) -}}
{{- end -}}
{{- else if kindIs "slice" .v -}}
{{- range $i, $x := .v -}}
{{- include "firebreak.noLiteralSecrets" (dict "v" $x "path" (printf "%s[%d]" $path $i)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* firebreak.checkCluster refuses clustered values the binary or the
cluster would refuse later, at render time. */}}
{{- define "firebreak.checkCluster" -}}
{{- $e := .Values.cluster.etcd -}}
{{- if not $e.endpoints -}}
{{- fail "cluster.enabled needs cluster.etcd.endpoints (a list of etcd URLs)" -}}
{{- end -}}
{{- if not (kindIs "slice" $e.endpoints) -}}
{{- fail "cluster.etcd.endpoints must be a list of etcd URLs, such as [https://etcd-0:2379]" -}}
{{- end -}}
{{- range $e.endpoints -}}
{{- if not (or (hasPrefix "https://" .) (hasPrefix "http://" .)) -}}
{{- fail (printf "cluster.etcd.endpoints: %q is not an http:// or https:// URL" .) -}}
{{- end -}}
{{- if and $e.tlsSecret (hasPrefix "http://" .) -}}
{{- fail (printf "cluster.etcd.endpoints: %q is plain http but cluster.etcd.tlsSecret is set" .) -}}
{{- end -}}
{{- end -}}
{{- if and $e.username (not (and $e.passwordSecret.name $e.passwordSecret.key)) -}}
{{- fail "cluster.etcd.username needs cluster.etcd.passwordSecret.name and .key (an existing Secret holding the password)" -}}
{{- end -}}
{{- if and (not $e.username) $e.passwordSecret.name -}}
{{- fail "cluster.etcd.passwordSecret needs cluster.etcd.username" -}}
{{- end -}}
{{- if ge (int .Values.cluster.pdb.minAvailable) (int .Values.cluster.replicas) -}}
{{- fail "cluster.pdb.minAvailable must be below cluster.replicas, or no node could ever be drained" -}}
{{- end -}}
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
      {{- $etcdPassword := and .Values.cluster.enabled .Values.cluster.etcd.username }}
      {{- if or .Values.secrets.env $etcdPassword }}
      env:
        {{- range .Values.secrets.env }}
        - name: {{ .name }}
          valueFrom:
            secretKeyRef:
              name: {{ .secretName }}
              key: {{ .key }}
        {{- end }}
        {{- if $etcdPassword }}
        - name: FIREBREAK_ETCD_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ .Values.cluster.etcd.passwordSecret.name }}
              key: {{ .Values.cluster.etcd.passwordSecret.key }}
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
