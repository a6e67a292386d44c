"""The google_docs node, its credentials and document operations."""

from typing import TYPE_CHECKING, Literal, TypeAlias

from threadline.config.base import UnknownTyped, WireModel, typed_union
from threadline.config.nodes.base import BaseNodeConfig, NodeCategory


class GoogleWorkspaceOAuth2Credentials(WireModel):
    """OAuth2 client credentials (fall back to server environment)."""

    type: Literal["google_workspace_oauth2"] = "google_workspace_oauth2"
    oauth_redirect_uri: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class GoogleWorkspaceServiceAccountCredentials(WireModel):
    """Service-account credentials (fall back to server environment)."""

    type: Literal["google_workspace_service_account"] = (
        "google_workspace_service_account"
    )
    service_account_email: str | None = None
    private_key_id: str | None = None
    private_key: str | None = None
    impersonation_email: str | None = None


class GoogleWorkspaceAPIKeyCredentials(WireModel):
    """API-key credentials for public APIs."""

    type: Literal["google_workspace_api_key"] = "google_workspace_api_key"
    api_key: str | None = None


class GoogleDocsCreateDocumentConfig(WireModel):
    """Create a document."""

    type: Literal["google_docs_create_document"] = "google_docs_create_document"
    title: str | None = None
    drive_name_or_id: str | None = None
    folder_name_or_id: str | None = None


class GoogleDocsGetDocumentConfig(WireModel):
    """Read a document."""

    type: Literal["google_docs_get_document"] = "google_docs_get_document"
    document_id_or_url: str | None = None
    return_full_model: bool = False


class GoogleDocsUpdateWithTextConfig(WireModel):
    """Insert text (appended when ``insert_index`` is None)."""

    type: Literal["google_docs_update_with_text"] = "google_docs_update_with_text"
    content: str | None = None
    insert_index: int | None = None


class GoogleDocsUpdateDocumentConfig(WireModel):
    """Update a document."""

    type: Literal["google_docs_update_document"] = "google_docs_update_document"
    document_id_or_url: str | None = None
    updates: GoogleDocsUpdateWithTextConfig | None = None


if TYPE_CHECKING:
    GoogleWorkspaceCredentials: TypeAlias = (
        GoogleWorkspaceOAuth2Credentials
        | GoogleWorkspaceServiceAccountCredentials
        | GoogleWorkspaceAPIKeyCredentials
        | UnknownTyped
    )
    GoogleDocsOperation: TypeAlias = (
        GoogleDocsCreateDocumentConfig
        | GoogleDocsGetDocumentConfig
        | GoogleDocsUpdateDocumentConfig
        | UnknownTyped
    )
else:
    GoogleWorkspaceCredentials = typed_union(
        GoogleWorkspaceOAuth2Credentials,
        GoogleWorkspaceServiceAccountCredentials,
        GoogleWorkspaceAPIKeyCredentials,
    )
    GoogleDocsOperation = typed_union(
        GoogleDocsCreateDocumentConfig,
        GoogleDocsGetDocumentConfig,
        GoogleDocsUpdateDocumentConfig,
    )


class GoogleDocsNodeConfig(BaseNodeConfig):
    """Creates, reads or updates a Google Docs document."""

    type: Literal["google_docs"] = "google_docs"
    primary_category: str | None = NodeCategory.GOOGLE_WORKSPACE.value
    secondary_category: str | None = NodeCategory.GOOGLE_DOCS.value
    credentials: GoogleWorkspaceCredentials | None = None
    operate_document: GoogleDocsOperation | None = None
