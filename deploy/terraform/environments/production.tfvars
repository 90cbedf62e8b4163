# terraform workspace select production
# terraform plan -var-file=environments/production.tfvars -out=$HOME/meltano-production.tfplan
environment = "production"

# Set these to the production project, its region and zones.
project_id = "data-ops-meltano-production"
region     = "us-central1"
node_zones = ["us-central1-a", "us-central1-b"]

# Requests of the scheduler, the API server and the four syncs that can run at once fit
# one node; up to two more give every sync its memory limit plus a surge node during
# upgrades, spread over two zones.
node_min_count = 1
node_max_count = 3

# The control plane has no public IP endpoint: operators and CI reach it through its DNS
# endpoint (IAM) or the bastion (README.md, "Cluster access"). Add an internal range to
# master_authorized_networks only for a VPN or Interconnect into this VPC; list in
# operators the group that may use the bastion (and so administer the databases).

sql_tier              = "db-custom-2-7680"
sql_availability_type = "REGIONAL"

image_repository = {
  project  = "data-ops-meltano-production"
  location = "us-central1"
  name     = "data-ops-meltano"
}

# The release pipeline (.gitlab-ci.yml): the GitLab project allowed to act as this
# environment's release service account, and the state bucket its plans read
# (environments/production.gcs.tfbackend).
gitlab_project_path    = "data-team/data-ops-meltano"
terraform_state_bucket = "data-ops-meltano-production-terraform-state"
# The tag pipeline's build job runs as staging's release account and pushes the one
# image it builds to both repositories.
image_pushers = ["serviceAccount:meltano-release-staging@data-ops-meltano-staging.iam.gserviceaccount.com"]

# Binary Authorization starts by logging what it would refuse: the release running when
# it is first applied was deployed before attestations existed. After one release
# through the pipeline (which attests its images) shows no violation in the audit log,
# set ENFORCED_BLOCK_AND_AUDIT_LOG (docs/runbook.md, "Binary Authorization").
image_admission_enforcement = "DRYRUN_AUDIT_LOG_ONLY"
