# `environment` is declared in environment.tf. Variables without a default are set by
# both environments/<env>.tfvars (a test checks it).

variable "project_id" {
  description = "GCP project of this environment. Use one project per environment: the Workload Identity pool (<project>.svc.id.goog) is per project, so the same namespace/KSA names in another cluster of the same project could act as this environment's workload service accounts."
  type        = string
}

variable "region" {
  description = "Region of the cluster's control plane, its subnet and Cloud SQL."
  type        = string
}

variable "node_zones" {
  description = "Zones of the node pool (within var.region)."
  type        = list(string)

  validation {
    condition     = length(var.node_zones) > 0
    error_message = "node_zones needs at least one zone."
  }
}

variable "machine_type" {
  description = "Node machine type."
  type        = string
  default     = "e2-standard-8"
}

variable "node_min_count" {
  description = "Fewest nodes in the pool (all zones together): room for the scheduler and the API server."
  type        = number
}

variable "node_max_count" {
  description = "Most nodes in the pool (all zones together): room for one pod per sync running at once, plus a surge node for upgrades."
  type        = number

  validation {
    condition     = var.node_max_count >= 1
    error_message = "node_max_count must be at least 1."
  }
}

variable "subnet_cidr" {
  description = "Primary range of the nodes' subnet."
  type        = string
  default     = "10.10.0.0/20"
}

variable "pods_cidr" {
  description = "Secondary range for pod IPs (VPC-native cluster)."
  type        = string
  default     = "10.20.0.0/16"
}

variable "services_cidr" {
  description = "Secondary range for Service IPs."
  type        = string
  default     = "10.30.0.0/20"
}

variable "master_ipv4_cidr_block" {
  description = "/28 of the control plane's private endpoint; must not overlap the ranges above."
  type        = string
  default     = "172.16.0.0/28"
}

variable "private_services_cidr" {
  description = "Range Cloud SQL's private IP is taken from (private services access); deploy/kubernetes/base/network-policy.yaml lets pods reach it on 3307 only."
  type        = string
  default     = "10.40.0.0/20"
}

variable "admin_subnet_cidr" {
  description = "Range of the bastion's subnet (bastion.tf); authorized to reach the control plane's private endpoint."
  type        = string
  default     = "10.10.16.0/28"
}

variable "master_authorized_networks" {
  description = "Further internal ranges (a VPN or Interconnect reaching the VPC) allowed to reach the control plane's private endpoint, besides the bastion's subnet. The DNS endpoint needs none: IAM decides there."
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  default = []
}

variable "operators" {
  description = "Members (user:…, group:…) who may use the bastion: IAP tunnel, OS Login, its service account; that is, administer the databases (database/). Project owners can without being listed."
  type        = list(string)
  default     = []
}

variable "sql_tier" {
  description = "Cloud SQL machine tier (Enterprise edition custom tier)."
  type        = string
}

variable "sql_availability_type" {
  description = "ZONAL, or REGIONAL for a standby in a second zone."
  type        = string

  validation {
    condition     = contains(["ZONAL", "REGIONAL"], var.sql_availability_type)
    error_message = "sql_availability_type must be ZONAL or REGIONAL."
  }
}

variable "sql_backup_retention_count" {
  description = "Daily backups kept."
  type        = number
  default     = 14
}

variable "image_repository" {
  description = "Artifact Registry repository of the project's image, created here with immutable tags (registry.tf): the node service account gets read access to it only."
  type = object({
    project  = string
    location = string
    name     = string
  })
}

variable "airflow_log_retention_days" {
  description = "Days Airflow task logs are kept in their bucket."
  type        = number
  default     = 90
}

variable "gitlab_url" {
  description = "GitLab instance whose OIDC tokens the release pipeline presents (its issuer)."
  type        = string
  default     = "https://gitlab.com"
}

variable "gitlab_project_path" {
  description = "GitLab project (group/name) whose pipelines on protected refs may act as the release service account."
  type        = string
}

variable "terraform_state_bucket" {
  description = "Bucket of this environment's Terraform state (environments/<env>.gcs.tfbackend): the release pipeline's plans read it and take its lock."
  type        = string
}

variable "image_pushers" {
  description = "Other members (serviceAccount:…) that may push images to this environment's repository: production lists staging's release service account, which builds each release once for both."
  type        = list(string)
  default     = []
}

variable "image_admission_enforcement" {
  description = "What Binary Authorization does with an image the release pipeline did not attest: ENFORCED_BLOCK_AND_AUDIT_LOG refuses the pod; DRYRUN_AUDIT_LOG_ONLY admits it and logs the violation (to find what a new policy would block, docs/runbook.md)."
  type        = string
  default     = "ENFORCED_BLOCK_AND_AUDIT_LOG"

  validation {
    condition     = contains(["ENFORCED_BLOCK_AND_AUDIT_LOG", "DRYRUN_AUDIT_LOG_ONLY"], var.image_admission_enforcement)
    error_message = "image_admission_enforcement is ENFORCED_BLOCK_AND_AUDIT_LOG or DRYRUN_AUDIT_LOG_ONLY."
  }
}
