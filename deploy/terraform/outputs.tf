# What deploy/kubernetes needs (the overlay for this environment).

output "cluster_name" {
  description = "GKE cluster (gcloud container clusters get-credentials NAME --region REGION --dns-endpoint)."
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

output "workload_service_accounts" {
  description = "Google service account of each Kubernetes service account of namespace meltano (KSA name => email): the iam.gke.io/gcp-service-account annotation of that KSA in the overlay."
  value       = { for name, account in google_service_account.workload : name => account.email }
}

output "database_users" {
  description = "PostgreSQL user of each workload (KSA name => user; IAM authentication, no password): the user in that workload's MELTANO_DATABASE_URI / Airflow SQL_ALCHEMY_CONN, URL-encoded (@ as %40). database/ reads it to grant each its database."
  value       = local.database_users
}

output "database_admin_user" {
  description = "PostgreSQL user of the bastion's service account, the database administrator database/ logs in as."
  value       = google_sql_user.admin.name
}

output "bastion" {
  description = "The bastion (name and zone): gcloud compute ssh NAME --zone ZONE --tunnel-through-iap."
  value = {
    name = google_compute_instance.bastion.name
    zone = google_compute_instance.bastion.zone
  }
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

output "image_attestor" {
  description = "The deploy job's ATTESTOR (.gitlab-ci.yml): the Binary Authorization attestor its attestations are for."
  value       = google_binary_authorization_attestor.release.id
}

output "image_attestor_key_version" {
  description = "The deploy job's ATTESTOR_KEY (.gitlab-ci.yml): the KMS key version it signs attestations with."
  value       = "${google_kms_crypto_key.image_attestor.id}/cryptoKeyVersions/${data.google_kms_crypto_key_version.image_attestor.version}"
}
