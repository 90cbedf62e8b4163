# Airflow's task logs, written by the scheduler (LocalExecutor) and read by the API
# server for the UI's log view and the failure alert's log link. In a bucket they
# outlive the pods; the runtime service account writes them through Workload Identity
# (no key). The overlays point AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER here.
resource "google_storage_bucket" "airflow_logs" {
  # checkov:skip=CKV_GCP_62: access logs of the log bucket would log the logging; its reads are in the Cloud Audit Logs.
  # checkov:skip=CKV_GCP_78: task logs are written once and expire; versioning would only keep deleted logs longer.
  name                        = "data-ops-meltano-airflow-logs${local.suffix}"
  project                     = var.project_id
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  lifecycle_rule {
    condition {
      age = var.airflow_log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# Create, read and list objects in this bucket only (no bucket administration).
resource "google_storage_bucket_iam_member" "runtime_writes_airflow_logs" {
  bucket = google_storage_bucket.airflow_logs.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.runtime.email}"
}
