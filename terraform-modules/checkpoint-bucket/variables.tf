variable "bucket_name" {
  description = "Name of the checkpoint bucket (globally unique)."
  type        = string
}

variable "noncurrent_days" {
  description = "Days after which old versions of checkpoint files expire."
  type        = number
  default     = 1
}

variable "newer_noncurrent_versions" {
  description = "Old versions of each file kept whatever their age."
  type        = number
  default     = 2
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
