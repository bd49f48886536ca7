{{/* Names, labels, images and the restricted security contexts shared by every template. */}}

{{- define "vrt.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vrt.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "vrt.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "vrt.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: <fullname>-<component>. */}}
{{- define "vrt.componentName" -}}
{{- printf "%s-%s" (include "vrt.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vrt.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vrt.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The recommended app.kubernetes.io labels; call with (dict "root" $ "component" "mlflow"). */}}
{{- define "vrt.labels" -}}
{{ include "vrt.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: vrt-platform
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A project image (vrt-base, vrt-train, vrt-serve): [<registry>/]<name>:<tag>. */}}
{{- define "vrt.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .name $tag -}}
{{- else -}}
{{- printf "%s:%s" .name $tag -}}
{{- end -}}
{{- end -}}

{{/* Pod-level security context; call with (dict "uid" 10001 "gid" 10001 "fsGroup" 10001). */}}
{{- define "vrt.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
fsGroup: {{ .fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context: non-root, read-only root, no privilege escalation, no capabilities. */}}
{{- define "vrt.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "vrt.projectPodSecurityContext" -}}
{{ include "vrt.podSecurityContext" (dict "uid" .Values.podSecurity.runAsUser "gid" .Values.podSecurity.runAsGroup "fsGroup" .Values.podSecurity.fsGroup) }}
{{- end -}}

{{- define "vrt.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* In-cluster URL of the MLflow server. */}}
{{- define "vrt.mlflowUrl" -}}
{{- printf "http://%s.%s.svc.%s:%v" (include "vrt.componentName" (dict "root" . "component" "mlflow")) .Release.Namespace .Values.clusterDomain .Values.mlflow.service.port -}}
{{- end -}}

{{/* S3 endpoint the components use: the bundled store's Service, else s3.endpoint. */}}
{{- define "vrt.s3Endpoint" -}}
{{- if .Values.objectStore.enabled -}}
{{- printf "http://%s.%s.svc.%s:%v" (include "vrt.componentName" (dict "root" . "component" "objectstore")) .Release.Namespace .Values.clusterDomain .Values.objectStore.port -}}
{{- else -}}
{{- .Values.s3.endpoint -}}
{{- end -}}
{{- end -}}

{{/* Host headers MLflow accepts: every in-cluster name of its Service (with and without port), loopback for port-forward, extra hosts. */}}
{{- define "vrt.mlflowAllowedHosts" -}}
{{- $svc := include "vrt.componentName" (dict "root" . "component" "mlflow") -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := list "localhost" "localhost:*" "127.0.0.1" "127.0.0.1:*" -}}
{{- range (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain)) -}}
{{- $hosts = append $hosts . -}}
{{- $hosts = append $hosts (printf "%s:%v" . $.Values.mlflow.service.port) -}}
{{- end -}}
{{- join "," (concat $hosts .Values.mlflow.allowedHosts) -}}
{{- end -}}

{{/* env entries for the S3 key pair, from the Secret (nothing when workload identity is used). */}}
{{- define "vrt.s3CredentialEnv" -}}
{{- with .Values.s3.credentials.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.s3.credentials.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.s3.credentials.secretAccessKeyKey }}
{{- end }}
{{- end -}}

{{/* NetworkPolicy peers allowed to reach MLflow and the object store. */}}
{{- define "vrt.clientPeers" -}}
- podSelector: {}
{{- range .Values.networkPolicy.allowedNamespaces }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ . }}
{{- end }}
{{- end }}

{{/* env of the MLflow backend store URI (PGPASSWORD for the bundled PostgreSQL: its URI carries no password). */}}
{{- define "vrt.mlflowBackendEnv" -}}
{{- $pg := .Values.postgresql -}}
{{- if $pg.enabled }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $pg.auth.existingSecret }}
      key: {{ $pg.auth.passwordKey }}
- name: MLFLOW_BACKEND_STORE_URI
  value: {{ printf "postgresql://%s@%s:5432/%s" $pg.username (include "vrt.componentName" (dict "root" . "component" "postgresql")) $pg.database | quote }}
{{- else }}
- name: MLFLOW_BACKEND_STORE_URI
  valueFrom:
    secretKeyRef:
      name: {{ .Values.mlflow.backendStore.existingSecret }}
      key: {{ .Values.mlflow.backendStore.uriKey }}
{{- end }}
{{- end -}}
