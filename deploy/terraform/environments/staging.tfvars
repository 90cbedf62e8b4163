# terraform workspace select staging
# terraform plan -var-file=environments/staging.tfvars -out=$HOME/meltano-staging.tfplan
environment = "staging"

# Set these to the staging project, its region and zones.
project_id = "data-ops-meltano-staging"
region     = "us-central1"
node_zones = ["us-central1-a"]

# One node holds the scheduler, the API server and the four production-shaped syncs by
# their requests; a second gives the syncs their memory limits, or a surge upgrade.
node_min_count = 1
node_max_count = 2

# The control plane has no public IP endpoint: operators and CI reach it through its DNS
# endpoint (IAM) or the bastion (README.md, "Cluster access"). Add an internal range to
# master_authorized_networks only for a VPN or Interconnect into this VPC; list in
# operators the group that may use the bastion (and so administer the databases).

sql_tier              = "db-custom-1-3840"
sql_availability_type = "ZONAL"

image_repository = {
  project  = "data-ops-meltano-staging"
  location = "us-central1"
  name     = "data-ops-meltano"
}

# The release pipeline (.gitlab-ci.yml): the GitLab project allowed to act as this
# environment's release service account, and the state bucket its plans read
# (environments/staging.gcs.tfbackend).
gitlab_project_path    = "data-team/data-ops-meltano"
terraform_state_bucket = "data-ops-meltano-staging-terraform-state"

# Binary Authorization starts by logging what it would refuse: the release running when
# it is first applied was deployed before attestations existed. After one release
# through the pipeline (which attests its images) shows no violation in the audit log,
# set ENFORCED_BLOCK_AND_AUDIT_LOG (docs/runbook.md, "Binary Authorization").
image_admission_enforcement = "DRYRUN_AUDIT_LOG_ONLY"
