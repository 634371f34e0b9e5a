//! The whole role and scope matrix, pinned: a change here is a change of
//! who may do what, and must be deliberate.

use uuid::Uuid;

use super::*;

/// One letter per permission, in [`Permission::ALL`] order, or '.' when
/// absent: R W X E C I M N T A.
fn row(permissions: &[Permission]) -> String {
    const LETTERS: [char; 10] = ['R', 'W', 'X', 'E', 'C', 'I', 'M', 'N', 'T', 'A'];
    Permission::ALL
        .iter()
        .zip(LETTERS)
        .map(|(p, letter)| if permissions.contains(p) { letter } else { '.' })
        .collect()
}

#[test]
fn role_permissions_are_pinned() {
    let matrix: Vec<(Role, String)> = Role::ALL
        .into_iter()
        .map(|role| (role, row(role.permissions())))
        .collect();
    assert_eq!(
        matrix,
        vec![
            (Role::Admin, "RWXECIMNTA".to_owned()),
            (Role::User, "RWXECIM..A".to_owned()),
            (Role::Executor, "R.XEC.....".to_owned()),
            (Role::Viewer, "R..E.I...A".to_owned()),
        ]
    );
}

#[test]
fn scope_permissions_are_pinned() {
    let matrix: Vec<(Scope, String)> = Scope::ALL
        .into_iter()
        .map(|scope| (scope, row(scope.permissions())))
        .collect();
    assert_eq!(
        matrix,
        vec![
            (Scope::ReadWorkflows, "R.........".to_owned()),
            (Scope::WriteWorkflows, "RW........".to_owned()),
            (Scope::ExecuteWorkflows, "..X.C.....".to_owned()),
            (Scope::ReadExecutions, "...E......".to_owned()),
            (Scope::ManageIntegrations, ".....IM...".to_owned()),
            (Scope::AdminAll, "RWXECIMNTA".to_owned()),
        ]
    );
}

#[test]
fn grantable_scopes_per_role_are_pinned() {
    let grantable = |role: Role| -> Vec<&str> {
        Scope::ALL
            .into_iter()
            .filter(|scope| scope.grantable_by(role))
            .map(Scope::as_str)
            .collect()
    };
    assert_eq!(
        grantable(Role::Admin),
        Scope::ALL.map(Scope::as_str).to_vec()
    );
    assert_eq!(
        grantable(Role::User),
        [
            "read:workflows",
            "write:workflows",
            "execute:workflows",
            "read:executions",
            "manage:integrations"
        ]
    );
    assert_eq!(
        grantable(Role::Executor),
        ["read:workflows", "execute:workflows", "read:executions"]
    );
    assert_eq!(
        grantable(Role::Viewer),
        ["read:workflows", "read:executions"]
    );
}

#[test]
fn a_token_never_does_more_than_a_role_that_could_grant_its_scopes() {
    for role in Role::ALL {
        for scope in Scope::ALL.into_iter().filter(|s| s.grantable_by(role)) {
            let token = Principal::ApiToken {
                token_id: ApiTokenId(Uuid::from_u128(1)),
                scopes: vec![scope],
            };
            for permission in Permission::ALL {
                if token.allows(permission) {
                    assert!(
                        role.permissions().contains(&permission),
                        "{role} granted {scope}, which allows {permission}"
                    );
                }
            }
        }
    }
}

#[test]
fn principals_combine_scopes_and_name_their_actor() {
    let user = Principal::User {
        user_id: UserId(Uuid::from_u128(7)),
        role: Role::Executor,
    };
    assert!(user.allows(Permission::ControlExecutions));
    assert!(!user.allows(Permission::WriteWorkflows));
    assert_eq!(user.actor(), "user:00000000-0000-0000-0000-000000000007");

    let token = Principal::ApiToken {
        token_id: ApiTokenId(Uuid::from_u128(8)),
        scopes: vec![Scope::ReadWorkflows, Scope::ReadExecutions],
    };
    assert!(token.allows(Permission::ReadWorkflows));
    assert!(token.allows(Permission::ReadExecutions));
    assert!(!token.allows(Permission::WriteWorkflows));
    assert_eq!(token.actor(), "token:00000000-0000-0000-0000-000000000008");

    let empty = Principal::ApiToken {
        token_id: ApiTokenId(Uuid::from_u128(9)),
        scopes: vec![],
    };
    assert!(Permission::ALL.iter().all(|p| !empty.allows(*p)));
}

#[test]
fn roles_and_scopes_round_trip_through_strings_and_serde() {
    for role in Role::ALL {
        assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        assert_eq!(role.to_string(), role.as_str());
        let json = serde_json::to_value(role).unwrap();
        assert_eq!(json, serde_json::Value::String(role.as_str().to_owned()));
        assert_eq!(serde_json::from_value::<Role>(json).unwrap(), role);
    }
    for scope in Scope::ALL {
        assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        assert_eq!(scope.to_string(), scope.as_str());
        let json = serde_json::to_value(scope).unwrap();
        assert_eq!(json, serde_json::Value::String(scope.as_str().to_owned()));
        assert_eq!(serde_json::from_value::<Scope>(json).unwrap(), scope);
    }
    assert_eq!(" viewer ".parse::<Role>(), Ok(Role::Viewer));
    assert_eq!(Permission::ManageApiTokens.to_string(), "manage:api_tokens");
}

#[test]
fn unknown_names_list_the_valid_ones() {
    let err = "root".parse::<Role>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "'root' is not a role; use one of admin, user, executor, viewer"
    );
    assert!("Admin".parse::<Role>().is_err(), "names are case-sensitive");
    let err = "write:all".parse::<Scope>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "'write:all' is not a scope; use one of read:workflows, write:workflows, execute:workflows, read:executions, manage:integrations, admin:all"
    );
}
