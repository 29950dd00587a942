"""Valid ``ResourceDefinition`` YAML for the sync tests, with the knobs the tests turn."""

from __future__ import annotations

from collections.abc import Sequence


def definition(
    name: str,
    version: str = "1.0.0",
    *,
    description: str | None = None,
    bucket_type: str = "string",
    optional: Sequence[str] = (),
) -> str:
    """A definition that passes every validation layer.

    ``bucket_type`` changes the type of the required input (a change that needs a major bump);
    ``optional`` adds optional string inputs (a minor change); ``description`` is a patch change.
    """
    optional_inputs = "".join(
        f"    - name: {item}\n      type: string\n      default: x\n      description: Optional {item}\n"
        for item in optional
    )
    return (
        "apiVersion: catalog.nestor.io/v1\n"
        "kind: ResourceDefinition\n"
        "metadata:\n"
        f"  name: {name}\n"
        f'  version: "{version}"\n'
        "  provider: aws\n"
        "  category: storage\n"
        "  resource_type: bucket\n"
        f"  description: {description or f'The {name} resource'}\n"
        "  maintainers:\n"
        "    - platform-team@company.com\n"
        "spec:\n"
        "  supported_engines: [terraform]\n"
        "  required_inputs:\n"
        "    - name: bucket_name\n"
        f"      type: {bucket_type}\n"
        "      description: The bucket name\n"
        f"  optional_inputs:{' []' if not optional else ''}\n"
        f"{optional_inputs}"
        "  outputs:\n"
        "    - name: arn\n"
        "      type: string\n"
        "      description: The ARN\n"
        "  engine_configs:\n"
        "    terraform:\n"
        "      module_source: terraform-aws-modules/s3-bucket/aws\n"
    )


def documents(*texts: str) -> str:
    """Several definitions in one YAML file."""
    return "---\n" + "---\n".join(texts)


#: A file that does not parse: the quoted scalar on line 5 never ends.
YAML_SYNTAX_ERROR = (
    'apiVersion: catalog.nestor.io/v1\nkind: ResourceDefinition\nmetadata:\n  name: broken\n  version: "1.0.0\n'
)
