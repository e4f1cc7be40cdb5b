//! The price catalog: every figure the estimates use, with its unit, source and date.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::capacity::{self, Capacity};
use crate::decide::Approach;
use crate::workload::LogicKind;

/// The catalog compiled into the binary.
pub const EMBEDDED: &str = include_str!("../../data/prices.toml");

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read price catalog {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("price catalog {origin} is not valid: {message}")]
    Parse { origin: String, message: String },
    #[error("price catalog {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("region {region:?} is not in the price catalog (it has: {known})")]
    UnknownRegion { region: String, known: String },
    #[error("price catalog has no price {key:?}")]
    MissingPrice { key: String },
    #[error("price catalog has no {what} for {approach}")]
    MissingApproach {
        what: &'static str,
        approach: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub as_of: String,
    pub currency: String,
    pub hours_per_month: f64,
    pub warn_after_days: u32,
    pub regions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    key: String,
    unit: String,
    source: String,
    read_on: String,
    #[serde(default)]
    assumed: bool,
    usd: Option<f64>,
    regions: Option<BTreeMap<String, f64>>,
}

/// One price as an estimate line cites it.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub key: String,
    pub usd: f64,
    pub unit: String,
    pub source: String,
    pub read_on: String,
    pub assumed: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effort {
    pub approach: Approach,
    pub ops_hours_month: [f64; 2],
    pub dev_hours: [f64; 2],
    #[serde(default)]
    pub assumed: bool,
    pub source: String,
    pub read_on: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sizing {
    pub target_utilization: f64,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    catalog: Header,
    #[serde(default)]
    price: Vec<RawPrice>,
    #[serde(default)]
    effort: Vec<Effort>,
    /// Replaces data/capacity.toml when a catalog lists its own.
    #[serde(default)]
    capacity: Vec<Capacity>,
    sizing: Sizing,
}

/// Keys every catalog must price; the estimator reads each of them.
pub const REQUIRED_KEYS: [&str; 17] = [
    "fargate.x86.vcpu_hour",
    "fargate.x86.gb_hour",
    "fargate.arm64.vcpu_hour",
    "fargate.arm64.gb_hour",
    "fargate.spot_discount",
    "logs.ingest_gb",
    "logs.storage_gb_month",
    "logs.free_ingest_gb",
    "s3.storage_gb_month",
    "s3.put_1000",
    "s3.get_1000",
    "kafka.msk.storage_gb_month",
    "kafka.generic.storage_gb_month",
    "dbt.hourly.month",
    "dbt.every_5min.month",
    "people.ops_hour",
    "people.dev_hour",
];

#[derive(Debug, Clone)]
pub struct Catalog {
    pub origin: String,
    pub header: Header,
    prices: BTreeMap<String, RawPrice>,
    effort: Vec<Effort>,
    capacity: Vec<Capacity>,
    pub sizing: Sizing,
}

impl Catalog {
    pub fn embedded() -> Result<Catalog, CatalogError> {
        Catalog::parse("(embedded)", EMBEDDED)
    }

    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Catalog::parse(&path.display().to_string(), &text)
    }

    pub fn parse(origin: &str, text: &str) -> Result<Catalog, CatalogError> {
        let raw: RawCatalog = toml::from_str(text).map_err(|e| CatalogError::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |message: String| CatalogError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let header = raw.catalog;
        if header.regions.is_empty() {
            return Err(invalid("[catalog] regions lists no region".into()));
        }
        if !(header.hours_per_month > 0.0 && header.hours_per_month <= 744.0) {
            return Err(invalid(format!(
                "[catalog] hours_per_month must be between 0 and 744, got {}",
                header.hours_per_month
            )));
        }
        parse_date(&header.as_of).map_err(|e| invalid(format!("[catalog] as_of: {e}")))?;
        let regions: BTreeSet<&str> = header.regions.iter().map(String::as_str).collect();

        let mut prices = BTreeMap::new();
        for price in raw.price {
            validate_price(&price, &regions).map_err(&invalid)?;
            if prices.contains_key(&price.key) {
                return Err(invalid(format!("price {:?} is listed twice", price.key)));
            }
            prices.insert(price.key.clone(), price);
        }
        for key in REQUIRED_KEYS {
            if !prices.contains_key(key) {
                return Err(invalid(format!(
                    "missing price {key:?} (every catalog needs: {})",
                    REQUIRED_KEYS.join(", ")
                )));
            }
        }
        for effort in &raw.effort {
            for (what, [low, high]) in [
                ("ops_hours_month", effort.ops_hours_month),
                ("dev_hours", effort.dev_hours),
            ] {
                if !(low >= 0.0 && high >= low && high.is_finite()) {
                    return Err(invalid(format!(
                        "effort for {}: {what} must be [low, high] with 0 <= low <= high, got [{low}, {high}]",
                        effort.approach.id()
                    )));
                }
            }
        }
        let capacity = if raw.capacity.is_empty() {
            capacity::parse(capacity::EMBEDDED).map_err(|message| CatalogError::Invalid {
                origin: capacity::EMBEDDED_ORIGIN.to_string(),
                message,
            })?
        } else {
            capacity::validate(&raw.capacity).map_err(&invalid)?;
            raw.capacity
        };
        let utilization = raw.sizing.target_utilization;
        if !(utilization > 0.0 && utilization <= 1.0) {
            return Err(invalid(format!(
                "[sizing] target_utilization must be above 0 and at most 1, got {utilization}"
            )));
        }
        Ok(Catalog {
            origin: origin.to_string(),
            header,
            prices,
            effort: raw.effort,
            capacity,
            sizing: raw.sizing,
        })
    }

    pub fn check_region(&self, region: &str) -> Result<(), CatalogError> {
        if self.header.regions.iter().any(|r| r == region) {
            Ok(())
        } else {
            Err(CatalogError::UnknownRegion {
                region: region.to_string(),
                known: self.header.regions.join(", "),
            })
        }
    }

    /// The price of `key` in `region` (global prices ignore the region).
    pub fn price(&self, key: &str, region: &str) -> Result<Price, CatalogError> {
        self.check_region(region)?;
        let raw = self
            .prices
            .get(key)
            .ok_or_else(|| CatalogError::MissingPrice {
                key: key.to_string(),
            })?;
        let usd = match (&raw.usd, &raw.regions) {
            (Some(usd), _) => *usd,
            (None, Some(regions)) => {
                *regions
                    .get(region)
                    .ok_or_else(|| CatalogError::MissingPrice {
                        key: format!("{key} in {region}"),
                    })?
            }
            (None, None) => {
                return Err(CatalogError::MissingPrice {
                    key: key.to_string(),
                })
            }
        };
        Ok(Price {
            key: key.to_string(),
            usd,
            unit: raw.unit.clone(),
            source: raw.source.clone(),
            read_on: raw.read_on.clone(),
            assumed: raw.assumed,
        })
    }

    pub fn effort(&self, approach: Approach) -> Result<&Effort, CatalogError> {
        self.effort
            .iter()
            .find(|e| e.approach == approach)
            .ok_or_else(|| CatalogError::MissingApproach {
                what: "ops and development hours ([[effort]])",
                approach: approach.id().to_string(),
            })
    }

    /// The capacity of `approach` for any query kind.
    pub fn capacity(&self, approach: Approach) -> Result<&Capacity, CatalogError> {
        capacity::pick(&self.capacity, approach, None).ok_or_else(|| {
            CatalogError::MissingApproach {
                what: "throughput capacity ([[capacity]])",
                approach: approach.id().to_string(),
            }
        })
    }

    /// The capacity sizing uses for `approach` running `query`: the figure measured on that
    /// kind of query, else the one for any kind.
    pub fn capacity_for(&self, approach: Approach, query: Option<LogicKind>) -> Option<&Capacity> {
        capacity::pick(&self.capacity, approach, query)
    }

    /// What sizing a stack needs from the catalog: its regions, the planned utilization and
    /// each engine's capacity for any query kind.
    pub fn capacities(&self) -> crate::stack::Capacities {
        self.capacities_for(None)
    }

    /// As [`Catalog::capacities`], with each engine's capacity for the workload's kind of
    /// query (data/capacity.toml), where one is recorded.
    pub fn capacities_for(&self, query: Option<LogicKind>) -> crate::stack::Capacities {
        crate::stack::Capacities {
            regions: self.header.regions.clone(),
            target_utilization: self.sizing.target_utilization,
            engines: self
                .capacity
                .iter()
                // Each engine has one figure for any query kind (capacity::validate).
                .filter(|c| c.query.is_none())
                .filter_map(|any| capacity::pick(&self.capacity, any.approach, query))
                .filter_map(|c| {
                    let flavor = crate::stack::Flavor::from_approach(c.approach)?;
                    Some((
                        flavor,
                        crate::stack::Capacity {
                            events_per_sec_per_vcpu: c.events_per_sec_per_vcpu,
                            assumed: c.assumed,
                            source: c.source.clone(),
                        },
                    ))
                })
                .collect(),
        }
    }

    /// Days between the catalog's `as_of` date and `today`.
    pub fn age_days(&self, today: jiff::civil::Date) -> i64 {
        parse_date(&self.header.as_of)
            .map(|as_of| (today - as_of).get_days() as i64)
            .unwrap_or(0)
    }

    /// A warning when the catalog is older than `max_age_days` (default: its own limit).
    pub fn staleness_warning(
        &self,
        today: jiff::civil::Date,
        max_age_days: Option<u32>,
    ) -> Option<String> {
        let limit = max_age_days.unwrap_or(self.header.warn_after_days);
        let age = self.age_days(today);
        (age > i64::from(limit)).then(|| {
            format!(
                "the price catalog {} is dated {} ({age} days ago, over the {limit}-day limit): prices may have changed; pass --prices FILE with current figures",
                self.origin, self.header.as_of
            )
        })
    }
}

fn parse_date(text: &str) -> Result<jiff::civil::Date, String> {
    text.parse::<jiff::civil::Date>()
        .map_err(|e| format!("{text:?} is not a date (YYYY-MM-DD): {e}"))
}

fn validate_price(price: &RawPrice, regions: &BTreeSet<&str>) -> Result<(), String> {
    let key = &price.key;
    if key.trim().is_empty() {
        return Err("a price has an empty key".to_string());
    }
    parse_date(&price.read_on).map_err(|e| format!("price {key:?}: read_on: {e}"))?;
    let check = |value: f64, region: Option<&str>| {
        let place = region.map(|r| format!(" in {r}")).unwrap_or_default();
        if !value.is_finite() || value < 0.0 {
            Err(format!(
                "price {key:?} is negative or not a number{place}: {value}"
            ))
        } else {
            Ok(())
        }
    };
    match (&price.usd, &price.regions) {
        (Some(_), Some(_)) => Err(format!(
            "price {key:?} has both `usd` and `regions`; give one"
        )),
        (None, None) => Err(format!(
            "price {key:?} has no figure: give `usd` or `regions`"
        )),
        (Some(usd), None) => check(*usd, None),
        (None, Some(by_region)) => {
            for (region, usd) in by_region {
                if !regions.contains(region.as_str()) {
                    return Err(format!(
                        "price {key:?} names unknown region {region:?}; [catalog] regions lists: {}",
                        regions.iter().copied().collect::<Vec<_>>().join(", ")
                    ));
                }
                check(*usd, Some(region))?;
            }
            for region in regions {
                if !by_region.contains_key(*region) {
                    return Err(format!("price {key:?} has no figure for region {region:?}"));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog_is_valid_and_has_the_design_figures() {
        let catalog = Catalog::embedded().unwrap();
        let vcpu = catalog.price("fargate.x86.vcpu_hour", "eu-west-2").unwrap();
        assert_eq!(vcpu.usd, 0.04656);
        assert_eq!(vcpu.unit, "vCPU-hour");
        assert!(catalog
            .price("fargate.x86.vcpu_hour", "ap-south-1")
            .is_err());
        assert_eq!(
            catalog.effort(Approach::Flink).unwrap().dev_hours,
            [40.0, 80.0]
        );
    }

    #[test]
    fn staleness_is_measured_from_as_of() {
        let catalog = Catalog::embedded().unwrap();
        let as_of: jiff::civil::Date = catalog.header.as_of.parse().unwrap();
        assert!(catalog.staleness_warning(as_of, None).is_none());
        let later = as_of.checked_add(jiff::Span::new().days(400)).unwrap();
        let warning = catalog.staleness_warning(later, None).unwrap();
        assert!(warning.contains("400 days ago"), "{warning}");
        assert!(catalog.staleness_warning(later, Some(500)).is_none());
    }
}
