//! Limits on the shape of a GraphQL request, enforced after parsing and
//! before validation, so no resolver ever runs for a request past them.
//! Depth and complexity are async-graphql's own limits (set in
//! `graphql::schema`); aliases and root fields are counted here.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, Variables};

/// The code of every request refused for its shape or size.
pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";

/// How large a request's shape may be.
#[derive(Debug, Clone, Copy)]
pub struct ShapeLimits {
    /// Aliased fields in the whole document.
    pub max_aliases: usize,
    /// Fields at the root of one operation (after expanding fragments).
    pub max_root_fields: usize,
}

impl ExtensionFactory for ShapeLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_trait::async_trait]
impl Extension for ShapeLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&document);
        if aliases > self.max_aliases {
            return Err(limit_error(format!(
                "the query uses {aliases} aliases; at most {} are allowed",
                self.max_aliases
            )));
        }
        for (_, operation) in document.operations.iter() {
            let roots = count_root_fields(&document, &operation.node.selection_set.node, 0);
            if roots > self.max_root_fields {
                return Err(limit_error(format!(
                    "an operation selects {roots} root fields; at most {} are allowed",
                    self.max_root_fields
                )));
            }
        }
        Ok(document)
    }
}

/// A GraphQL error with the `LIMIT_EXCEEDED` code.
pub(crate) fn limit_error(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", LIMIT_EXCEEDED);
    error.extensions = Some(extensions);
    error
}

fn count_aliases(document: &ExecutableDocument) -> usize {
    let operations = document
        .operations
        .iter()
        .map(|(_, op)| aliases_in(&op.node.selection_set.node));
    let fragments = document
        .fragments
        .values()
        .map(|f| aliases_in(&f.node.selection_set.node));
    operations.chain(fragments).sum()
}

fn aliases_in(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases_in(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => aliases_in(&fragment.node.selection_set.node),
            // Counted once, where the fragment is defined.
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Fragments nest at most this deep at the root; deeper (or cyclic) spreads
/// are left to validation, which rejects cycles.
const MAX_FRAGMENT_NESTING: usize = 8;

fn count_root_fields(document: &ExecutableDocument, set: &SelectionSet, nesting: usize) -> usize {
    if nesting > MAX_FRAGMENT_NESTING {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                count_root_fields(document, &fragment.node.selection_set.node, nesting + 1)
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |f| {
                    count_root_fields(document, &f.node.selection_set.node, nesting + 1)
                }),
        })
        .sum()
}
