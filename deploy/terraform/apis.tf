resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",     # the image repository
    "binaryauthorization.googleapis.com",  # admission of attested images only
    "cloudkms.googleapis.com",             # the key of GKE's Secrets encryption
    "cloudresourcemanager.googleapis.com", # project IAM bindings
    "compute.googleapis.com",
    "container.googleapis.com",
    "containeranalysis.googleapis.com", # the attestations (occurrences of a note)
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # Workload Identity token exchange
    "iap.googleapis.com",            # TCP forwarding to the bastion
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com", # the Cloud SQL Auth Proxy talks to it
    "sts.googleapis.com",      # the release pipeline's OIDC token exchange
    "storage.googleapis.com",  # the vendor-drivers bucket
  ])

  service = each.value
  # Other things in the project may use these APIs too.
  disable_on_destroy = false
}
