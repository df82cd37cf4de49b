//! Names of the things a user chooses by name (models, losses, optimisers, schedules,
//! devices): one mechanism for the command line, `config.json` and checkpoints alike.
//!
//! [`named_enum!`](crate::named_enum) declares an enum whose variants each have one name; the enum gets
//! `ALL`, `name()`, `Display`, `FromStr` (an unknown name is an [`UnknownName`] error listing
//! the known ones) and serde as that name.

/// A name that is not one of the known ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{given}`; known: {known}")]
pub struct UnknownName {
    /// What was being named, e.g. `model`.
    pub kind: &'static str,
    /// The name given.
    pub given: String,
    /// The known names, comma-separated.
    pub known: String,
}

/// Declares a named enum (see the [module docs](crate::names)):
///
/// ```ignore
/// named_enum! {
///     /// The optimiser.
///     pub enum OptimizerKind: "optimizer" {
///         /// The paper's.
///         Adagrad => "adagrad",
///         Adam => "adam",
///     }
/// }
/// ```
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$attribute:meta])*
        $visibility:vis enum $type:ident: $kind:literal {
            $($(#[$variant_attribute:meta])* $variant:ident => $name:literal,)*
        }
    ) => {
        $(#[$attribute])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $visibility enum $type {
            $($(#[$variant_attribute])* $variant,)*
        }

        impl $type {
            /// Every value, in declaration order.
            pub const ALL: &'static [$type] = &[$($type::$variant),*];

            /// The name, e.g. for the command line and `config.json`.
            pub fn name(self) -> &'static str {
                match self {
                    $($type::$variant => $name,)*
                }
            }
        }

        impl ::std::fmt::Display for $type {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.name())
            }
        }

        impl ::std::str::FromStr for $type {
            type Err = $crate::names::UnknownName;

            fn from_str(given: &str) -> ::std::result::Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|value| value.name() == given)
                    .ok_or_else(|| $crate::names::UnknownName {
                        kind: $kind,
                        given: given.to_string(),
                        known: Self::ALL
                            .iter()
                            .map(|value| value.name())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            }
        }

        impl ::serde::Serialize for $type {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $type {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let name = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                name.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::named_enum! {
        /// A test enum.
        enum Fruit: "fruit" {
            /// Yellow.
            Banana => "banana",
            BloodOrange => "blood-orange",
        }
    }

    #[test]
    fn names_round_trip_through_text_and_json() {
        for &fruit in Fruit::ALL {
            assert_eq!(fruit.name().parse::<Fruit>(), Ok(fruit));
            let json = serde_json::to_string(&fruit).unwrap();
            assert_eq!(json, format!("\"{fruit}\""));
            assert_eq!(serde_json::from_str::<Fruit>(&json).unwrap(), fruit);
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let error = "apple".parse::<Fruit>().unwrap_err().to_string();
        assert_eq!(error, "unknown fruit `apple`; known: banana, blood-orange");
        let error = serde_json::from_str::<Fruit>("\"kiwi\"").unwrap_err();
        assert!(
            error.to_string().contains("unknown fruit `kiwi`"),
            "{error}"
        );
    }
}
