//! AWS partitions and the regions in them.

use super::error::{string_newtype_serde, FieldError};

/// An AWS partition. ARNs and policies must name the partition their resources live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    Aws,
    AwsCn,
    AwsUsGov,
}

impl Partition {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "aws" => Some(Self::Aws),
            "aws-cn" => Some(Self::AwsCn),
            "aws-us-gov" => Some(Self::AwsUsGov),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::AwsCn => "aws-cn",
            Self::AwsUsGov => "aws-us-gov",
        }
    }

    /// Returns the DNS suffix of the partition's service endpoints.
    pub fn dns_suffix(&self) -> &'static str {
        match self {
            Self::AwsCn => "amazonaws.com.cn",
            Self::Aws | Self::AwsUsGov => "amazonaws.com",
        }
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a region is enabled for every account or must be opted into first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Availability {
    Default,
    OptIn,
}

use Availability::{Default as Std, OptIn};

/// Regions with S3 and STS, as listed in the AWS General Reference (regions and endpoints) at
/// the time of writing. A region launched later is rejected until it is added here.
const REGIONS: &[(&str, Partition, Availability)] = &[
    ("us-east-1", Partition::Aws, Std),
    ("us-east-2", Partition::Aws, Std),
    ("us-west-1", Partition::Aws, Std),
    ("us-west-2", Partition::Aws, Std),
    ("af-south-1", Partition::Aws, OptIn),
    ("ap-east-1", Partition::Aws, OptIn),
    ("ap-east-2", Partition::Aws, OptIn),
    ("ap-south-1", Partition::Aws, Std),
    ("ap-south-2", Partition::Aws, OptIn),
    ("ap-southeast-1", Partition::Aws, Std),
    ("ap-southeast-2", Partition::Aws, Std),
    ("ap-southeast-3", Partition::Aws, OptIn),
    ("ap-southeast-4", Partition::Aws, OptIn),
    ("ap-southeast-5", Partition::Aws, OptIn),
    ("ap-southeast-7", Partition::Aws, OptIn),
    ("ap-northeast-1", Partition::Aws, Std),
    ("ap-northeast-2", Partition::Aws, Std),
    ("ap-northeast-3", Partition::Aws, Std),
    ("ca-central-1", Partition::Aws, Std),
    ("ca-west-1", Partition::Aws, OptIn),
    ("eu-central-1", Partition::Aws, Std),
    ("eu-central-2", Partition::Aws, OptIn),
    ("eu-west-1", Partition::Aws, Std),
    ("eu-west-2", Partition::Aws, Std),
    ("eu-west-3", Partition::Aws, Std),
    ("eu-south-1", Partition::Aws, OptIn),
    ("eu-south-2", Partition::Aws, OptIn),
    ("eu-north-1", Partition::Aws, Std),
    ("il-central-1", Partition::Aws, OptIn),
    ("me-south-1", Partition::Aws, OptIn),
    ("me-central-1", Partition::Aws, OptIn),
    ("mx-central-1", Partition::Aws, OptIn),
    ("sa-east-1", Partition::Aws, Std),
    ("cn-north-1", Partition::AwsCn, Std),
    ("cn-northwest-1", Partition::AwsCn, Std),
    ("us-gov-west-1", Partition::AwsUsGov, Std),
    ("us-gov-east-1", Partition::AwsUsGov, Std),
];

/// A known AWS region, with the partition it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region {
    name: &'static str,
    partition: Partition,
    availability: Availability,
}

impl Region {
    pub const FIELD: &'static str = "region";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        REGIONS
            .iter()
            .find(|(name, _, _)| *name == raw)
            .map(|&(name, partition, availability)| Self {
                name,
                partition,
                availability,
            })
            .ok_or_else(|| FieldError::new(Self::FIELD, raw, unknown_region_message(raw)))
    }

    pub fn as_str(&self) -> &'static str {
        self.name
    }

    pub fn partition(&self) -> Partition {
        self.partition
    }

    pub fn is_opt_in(&self) -> bool {
        self.availability == Availability::OptIn
    }

    /// Returns every accepted region name, in the order of the list above.
    pub fn names() -> impl Iterator<Item = &'static str> {
        REGIONS.iter().map(|(name, _, _)| *name)
    }
}

string_newtype_serde!(Region);

/// Builds the error message, naming the known region that `raw` spells with other letter case
/// or surrounding spaces, so that the client learns exactly what to send.
fn unknown_region_message(raw: &str) -> String {
    let normalized = raw.trim().to_ascii_lowercase();
    match REGIONS.iter().find(|(name, _, _)| *name == normalized) {
        Some((name, _, _)) => format!(
            "region must be written exactly as AWS does, in lowercase without spaces: send \"{name}\""
        ),
        None => "region must be an AWS region code such as \"us-east-1\" or \"eu-west-1\", the region the bucket was created in".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_knows_its_partition() {
        assert_eq!(
            Region::parse("eu-west-1").unwrap().partition(),
            Partition::Aws
        );
        assert_eq!(
            Region::parse("cn-north-1").unwrap().partition(),
            Partition::AwsCn
        );
        assert_eq!(
            Region::parse("us-gov-west-1").unwrap().partition(),
            Partition::AwsUsGov
        );
    }

    #[test]
    fn region_marks_opt_in_regions() {
        assert!(Region::parse("af-south-1").unwrap().is_opt_in());
        assert!(!Region::parse("us-east-1").unwrap().is_opt_in());
    }

    #[test]
    fn region_rejects_unknown_codes() {
        for raw in ["", "US-EAST-1", "us-east-9", "eu-west", "global"] {
            assert_eq!(Region::parse(raw).unwrap_err().field, "region", "{raw}");
        }
    }

    #[test]
    fn region_table_has_no_duplicates() {
        let mut names: Vec<&str> = REGIONS.iter().map(|(name, _, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REGIONS.len());
    }

    #[test]
    fn region_error_names_the_spelling_to_send() {
        for raw in ["EU-WEST-1", " eu-west-1", "us-east-1 "] {
            let error = Region::parse(raw).unwrap_err();

            assert!(
                error.message.contains("send \""),
                "{raw}: {}",
                error.message
            );
        }
        let error = Region::parse("eu-west-1 ").unwrap_err();
        assert!(error.message.contains("\"eu-west-1\""));
    }
}
