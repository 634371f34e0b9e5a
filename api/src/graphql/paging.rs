//! Relay-style paging shared by every list query: page sizes, opaque
//! cursors and the connection type.

use async_graphql::connection::{Connection, CursorType, EmptyFields, OpaqueCursor};

use super::errors::{coded, ErrorCode};

/// Page size when `first` is not given.
pub(crate) const DEFAULT_PAGE: i32 = 50;
/// Largest page a client may ask for.
pub(crate) const MAX_PAGE: i32 = 500;

/// A connection with opaque string cursors.
pub(crate) type Page<T> = Connection<String, T, EmptyFields, EmptyFields>;

/// Validates `first` (1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`]).
pub(crate) fn page_size(first: Option<i32>) -> async_graphql::Result<i64> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(coded(
            ErrorCode::Validation,
            format!("first must be between 1 and {MAX_PAGE}, got {first}"),
        ));
    }
    Ok(i64::from(first))
}

/// Decodes an opaque cursor of this query, or says it is not one.
pub(crate) fn decode<T>(after: Option<&str>) -> async_graphql::Result<Option<T>>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    after
        .map(|cursor| {
            OpaqueCursor::<T>::decode_cursor(cursor)
                .map(|OpaqueCursor(value)| value)
                .map_err(|_| {
                    coded(
                        ErrorCode::Validation,
                        format!("after is not a cursor of this query: '{cursor}'"),
                    )
                })
        })
        .transpose()
}

/// Encodes a cursor value opaquely.
pub(crate) fn encode<T: serde::Serialize + serde::de::DeserializeOwned>(value: T) -> String {
    OpaqueCursor(value).encode_cursor()
}
