# What deploy/kubernetes needs (the overlay for this environment).

output "cluster_name" {
  description = "GKE cluster (gcloud container clusters get-credentials NAME --region REGION)."
  value       = google_container_cluster.meltano.name
}

output "cluster_region" {
  description = "Region of the cluster."
  value       = google_container_cluster.meltano.location
}

output "cloud_sql_instance_connection_name" {
  description = "PROJECT:REGION:INSTANCE, the cloud-sql-proxy argument (secret cloud-sql, key CLOUD_SQL_INSTANCE)."
  value       = google_sql_database_instance.meltano.connection_name
}

output "runtime_service_account_email" {
  description = "Google service account of the workloads: the iam.gke.io/gcp-service-account annotation of the Kubernetes service accounts."
  value       = google_service_account.runtime.email
}

output "kubernetes_service_accounts" {
  description = "Kubernetes service accounts (namespace/name) allowed to act as the runtime service account."
  value       = sort([for ksa in local.kubernetes_service_accounts : "${local.kubernetes_namespace}/${ksa}"])
}

output "database_user" {
  description = "PostgreSQL user of the runtime (IAM authentication, no password): the user in MELTANO_DATABASE_URI and Airflow's SQL_ALCHEMY_CONN, URL-encoded (@ as %40)."
  value       = google_sql_user.runtime.name
}

output "databases" {
  description = "Databases on the instance."
  value       = sort([for db in google_sql_database.meltano : db.name])
}

output "airflow_logs_bucket" {
  description = "Bucket of Airflow's task logs (the overlays' AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER)."
  value       = google_storage_bucket.airflow_logs.name
}

output "release_workload_identity_provider" {
  description = "The GitLab CI/CD variable GCP_WORKLOAD_IDENTITY_PROVIDER (projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/gitlab)."
  value       = google_iam_workload_identity_pool_provider.gitlab.name
}

output "release_service_account_email" {
  description = "The GitLab CI/CD variable GCP_RELEASE_SERVICE_ACCOUNT."
  value       = google_service_account.release.email
}
