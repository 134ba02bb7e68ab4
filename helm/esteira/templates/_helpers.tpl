{{/*
Names and labels. Resource names are "<release>-esteira" unless overridden, cut to 63
characters (the DNS label limit most name fields share).
*/}}
{{- define "esteira.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "esteira.fullname" -}}
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

{{- define "esteira.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of the worker pods. The component label keeps the worker's selectors
(Service, PodDisruptionBudget, spread constraints) off the pods of any other component
this chart may grow, such as the SFTP gateway.
*/}}
{{- define "esteira.selectorLabels" -}}
app.kubernetes.io/name: {{ include "esteira.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end }}

{{/* Labels every object carries, whatever its component. */}}
{{- define "esteira.baseLabels" -}}
helm.sh/chart: {{ include "esteira.chart" . }}
app.kubernetes.io/name: {{ include "esteira.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: esteira
{{- end }}

{{/* Labels of the worker's objects. */}}
{{- define "esteira.labels" -}}
{{ include "esteira.baseLabels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{- define "esteira.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "esteira.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Seconds the worker finishes files after SIGTERM (--shutdown-grace). It must end before
the kubelet's SIGKILL, with room left to give unfinished files back to the queue.
*/}}
{{- define "esteira.shutdownGrace" -}}
{{- $room := sub (int .Values.terminationGracePeriodSeconds) (int .Values.preStop.sleepSeconds) | int }}
{{- if eq (toString .Values.worker.shutdownGrace) "auto" }}
{{- sub $room 15 }}
{{- else if gt (int .Values.worker.shutdownGrace) (sub $room 15 | int) }}
{{- fail (printf "worker.shutdownGrace (%d) must leave 15s before the kill: at most terminationGracePeriodSeconds - preStop.sleepSeconds - 15 = %d" (int .Values.worker.shutdownGrace) (sub $room 15)) }}
{{- else }}
{{- int .Values.worker.shutdownGrace }}
{{- end }}
{{- end }}

{{- define "esteira.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The routes ConfigMap: the chart's own, or the user's. */}}
{{- define "esteira.routesConfigMap" -}}
{{- .Values.routes.existingConfigMap | default (printf "%s-routes" (include "esteira.fullname" .)) }}
{{- end }}

{{/* Where the routes ConfigMap is mounted, and the file ESTEIRA_ROUTES names in it. */}}
{{- define "esteira.routesDir" -}}/etc/esteira/routes{{- end }}
{{- define "esteira.routesFile" -}}routes.yaml{{- end }}

{{/* The routes file exactly as the worker reads it (examples/routes.yaml's format). */}}
{{- define "esteira.routesYAML" -}}
{{- $file := dict "routes" .Values.routes.routes }}
{{- with .Values.routes.extensions }}
{{- $_ := set $file "extensions" . }}
{{- end }}
{{- with .Values.routes.loadBudget }}
{{- $_ := set $file "load_budget" . }}
{{- end }}
{{- if .Values.fairShare.tenants }}
{{- $fair := dict "queues" "per_tenant" }}
{{- with .Values.fairShare.weights }}
{{- $_ := set $fair "weights" . }}
{{- end }}
{{- $_ := set $file "fair_share" $fair }}
{{- end }}
{{- toYaml $file }}
{{- end }}

{{/*
Environment shared by the worker and the DLQ replay Job: region, resource names,
routes, MySQL, logging, HTTP port.
*/}}
{{/*
The worker's landing buckets (ESTEIRA_BUCKET, a comma list): worker.bucket, plus the gateway's own bucket
when it has one. The worker dead-letters events for any other bucket as ForeignBucket.
*/}}
{{- define "esteira.landingBuckets" -}}
{{- $buckets := list .Values.worker.bucket -}}
{{- if and .Values.sftp.enabled .Values.sftp.bucket (ne .Values.sftp.bucket .Values.worker.bucket) -}}
{{- $buckets = append $buckets .Values.sftp.bucket -}}
{{- end -}}
{{- join "," $buckets -}}
{{- end -}}

{{- define "esteira.env" -}}
- name: AWS_REGION
  value: {{ .Values.aws.region | quote }}
{{- with .Values.aws.endpointURL }}
- name: AWS_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
- name: ESTEIRA_QUEUE
  value: {{ .Values.worker.queue | quote }}
- name: ESTEIRA_DLQ
  value: {{ .Values.worker.deadLetterQueue | quote }}
- name: ESTEIRA_BUCKET
  value: {{ include "esteira.landingBuckets" . | quote }}
- name: ESTEIRA_JOBS_TABLE
  value: {{ .Values.worker.jobsTable | quote }}
- name: ESTEIRA_ROUTES
  value: {{ printf "%s/%s" (include "esteira.routesDir" .) (include "esteira.routesFile" .) | quote }}
{{- if .Values.mysql.secretArn }}
- name: ESTEIRA_MYSQL_SECRET_ARN
  value: {{ .Values.mysql.secretArn | quote }}
{{- else }}
- name: ESTEIRA_MYSQL_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "mysql.existingSecret.name (or mysql.secretArn) is required" .Values.mysql.existingSecret.name | quote }}
      key: {{ .Values.mysql.existingSecret.key | quote }}
{{- end }}
- name: ESTEIRA_LOG_LEVEL
  value: {{ .Values.worker.logLevel | quote }}
- name: ESTEIRA_LOG_FORMAT
  value: {{ .Values.worker.logFormat | quote }}
- name: ESTEIRA_HTTP_PORT
  value: {{ .Values.worker.httpPort | quote }}
{{- with .Values.worker.notify }}
{{- if .snsTopic }}
- name: ESTEIRA_NOTIFY_SNS_TOPIC
  value: {{ .snsTopic | quote }}
{{- end }}
{{- if .webhook }}
- name: ESTEIRA_NOTIFY_WEBHOOK
  value: {{ .webhook | quote }}
{{- end }}
{{- if or .snsTopic .webhook }}
- name: ESTEIRA_NOTIFY_ON
  value: {{ .on | quote }}
{{- end }}
{{- if .webhookSecret.name }}
- name: ESTEIRA_NOTIFY_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .webhookSecret.name | quote }}
      key: {{ .webhookSecret.key | quote }}
{{- else if .webhook }}
{{- fail "worker.notify.webhook needs worker.notify.webhookSecret.name: a Secret with the signing secret" }}
{{- end }}
{{- end }}
{{- with .Values.worker.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes shared by the worker and the DLQ replay Job. */}}
{{- define "esteira.volumes" -}}
- name: routes
  configMap:
    name: {{ include "esteira.routesConfigMap" . }}
- name: tmp
  emptyDir:
    {{- with .Values.tmp.medium }}
    medium: {{ . }}
    {{- end }}
    sizeLimit: {{ .Values.tmp.sizeLimit }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "esteira.volumeMounts" -}}
- name: routes
  mountPath: {{ include "esteira.routesDir" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod-level fields shared by the worker and the DLQ replay Job: identity, security,
placement.
*/}}
{{- define "esteira.podCommon" -}}
serviceAccountName: {{ include "esteira.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The SFTP gateway (sftp.enabled): its own name, labels and identity. The component label
keeps its selectors and the worker's apart.
*/}}
{{- define "esteira.sftp.fullname" -}}
{{- printf "%s-sftp" (include "esteira.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "esteira.sftp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "esteira.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: sftp-gateway
{{- end }}

{{- define "esteira.sftp.labels" -}}
{{ include "esteira.baseLabels" . }}
app.kubernetes.io/component: sftp-gateway
{{- end }}

{{- define "esteira.sftp.serviceAccountName" -}}
{{- if .Values.sftp.serviceAccount.create }}
{{- default (include "esteira.sftp.fullname" .) .Values.sftp.serviceAccount.name }}
{{- else }}
{{- required "sftp.serviceAccount.name is required when sftp.serviceAccount.create is false" .Values.sftp.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Where the users file and the host keys are mounted. */}}
{{- define "esteira.sftp.usersDir" -}}/etc/esteira/sftp-users{{- end }}
{{- define "esteira.sftp.hostKeyDir" -}}/etc/esteira/sftp-host-keys{{- end }}

{{/* The users file exactly as the gateway reads it (docs/SFTP.md). */}}
{{- define "esteira.sftp.usersYAML" -}}
{{- toYaml (dict "users" .Values.sftp.users.users) }}
{{- end }}

{{/*
Where the users file comes from: "values", "secret", "configmap", or "" when the users are
only in Secrets Manager (sftp.users.secretsManagerId, which may also be set beside a file:
the gateway then serves both sets). At most one file, and at least one source.
*/}}
{{- define "esteira.sftp.usersFile" -}}
{{- $u := .Values.sftp.users }}
{{- $set := list }}
{{- if $u.users }}{{ $set = append $set "values" }}{{ end }}
{{- if $u.existingSecret }}{{ $set = append $set "secret" }}{{ end }}
{{- if $u.existingConfigMap }}{{ $set = append $set "configmap" }}{{ end }}
{{- if gt (len $set) 1 }}
{{- fail (printf "sftp.users takes one users file: set one of users, existingSecret or existingConfigMap (got %d), plus secretsManagerId if you like" (len $set)) }}
{{- end }}
{{- if and (eq (len $set) 0) (not $u.secretsManagerId) }}
{{- fail "sftp.users needs a source: users, existingSecret, existingConfigMap and/or secretsManagerId" }}
{{- end }}
{{- if $set }}{{ first $set }}{{ end }}
{{- end }}
