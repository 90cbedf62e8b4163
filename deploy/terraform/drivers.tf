# Xactly's JDBC driver is proprietary: never in git nor in the image. It is uploaded
# once to this bucket (docs/runbook.md) and sync pods mount it read-only through the
# Cloud Storage FUSE CSI driver, as the sync pods' service account (the only reader).
resource "google_storage_bucket" "vendor_drivers" {
  # checkov:skip=CKV_GCP_62: access logs of a bucket holding one jar, read by one service account, add nothing to the Cloud Audit Logs of its reads (Data Access, logs.tf).
  name                        = "data-ops-meltano-vendor-drivers${local.suffix}"
  project                     = var.project_id
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true # a replaced driver can be rolled back
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_iam_member" "sync_reads_drivers" {
  bucket = google_storage_bucket.vendor_drivers.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.workload["meltano-sync"].member
}
