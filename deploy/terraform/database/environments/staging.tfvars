# terraform workspace select staging
# terraform plan -var-file=environments/staging.tfvars -out=$HOME/meltano-database-staging.tfplan
environment            = "staging"
terraform_state_bucket = "data-ops-meltano-staging-terraform-state"
