"""The secret scanner finds what it must (known values and secret shapes) and says where without repeating it."""

from __future__ import annotations

import base64

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from helpers import hygiene
from helpers.tags import as_aws, suite_tags

SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEDIaCXVzLWVhc3QtMSJHMEUCIQD" + "a" * 60
ECR_PASSWORD = "eyJwYXlsb2FkIjoiQ0FUX0lTX05PVF9BX1JFQUxfVE9LRU4iLCJkYXRha2V5IjoiIn0="
ECR_TOKEN = base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()).decode()


def test_known_secrets_and_secret_shapes_are_found_and_never_repeated():
    text = f"password={ECR_PASSWORD}\ntoken {SESSION_TOKEN}\naws_secret_access_key = {SECRET_KEY}\n{ECR_TOKEN}"
    findings = hygiene.scan_text(text, known=["my-db-password-123"], path="x.log")
    kinds = {f.kind for f in findings}
    assert {"ECR authorization token", "ECR password", "session token", "secret access key"} <= kinds
    assert hygiene.scan_text("the db says my-db-password-123", known=["my-db-password-123"])[0].kind == "known secret"
    for finding in findings:
        assert SECRET_KEY not in finding.hint and ECR_PASSWORD not in finding.hint and finding.hint.endswith(
            "characters)")


def test_clean_text_and_short_or_dummy_values_give_no_finding():
    clean = ("sha256:" + "ab" * 32 + " git 3f786850e387550fdab836ed7e6dc881de23001b "
             "image 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1 key testing")
    assert hygiene.scan_text(clean, known=["testing", ""]) == []


def test_an_ecr_token_holds_its_password():
    assert hygiene.ecr_token_secrets(ECR_TOKEN) == [ECR_TOKEN, ECR_PASSWORD]
    assert hygiene.ecr_token_secrets("not base64!") == ["not base64!"]


def test_notebooks_are_scanned_in_sources_and_outputs(tmp_path):
    notebook = new_notebook(cells=[
        new_code_cell("print('hello')", outputs=[new_output("stream", name="stdout", text="hello\n")]),
        new_code_cell("x = 1", outputs=[new_output("execute_result", data={"text/plain": f"'{ECR_TOKEN}'"},
                                                   execution_count=2)]),
        new_code_cell('db_password = "correct-horse-battery"'),  # e.g. a parameter papermill injected
    ])
    path = tmp_path / "out.ipynb"
    nbformat.write(notebook, path)
    findings = hygiene.scan_paths([path], known=["correct-horse-battery"])
    assert {(f.where, f.kind) for f in findings} == {
        ("cell 1 output 0", "ECR authorization token"), ("cell 2 source", "known secret")}
    table = hygiene.findings_table(findings)
    assert list(table.columns) == ["path", "where", "kind", "hint"] and len(table) == 2


def test_the_backends_secrets_are_gathered_to_be_scanned_for(session):
    session.client("secretsmanager").create_secret(
        Name="db", SecretString='{"username": "app", "password": "s3cret-value-42"}', Tags=as_aws(suite_tags()))
    session.client("ssm").put_parameter(Name="/lab/token", Value="ssm-secure-value-7", Type="SecureString")
    found = hygiene.backend_secrets(session)
    assert "s3cret-value-42" in found and "ssm-secure-value-7" in found
    token = session.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    assert token in found and base64.b64decode(token).decode().split(":", 1)[1] in found
