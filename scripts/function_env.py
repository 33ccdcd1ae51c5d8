"""Print the environment that template.yaml gives one function, resolved for a local run.

Usage: function_env.py TEMPLATE LOGICAL_ID

Prints KEY=VALUE lines: the function's environment variables (Globals merged with the
function's own), then AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_LOG_FORMAT and
AWS_LAMBDA_LOG_LEVEL as Lambda would set them, and FUNCTION_TIMEOUT (seconds) for the
caller. A Ref to a parameter resolves to its default, a Ref to a resource to its logical ID,
and a GetAtt of an ARN to a placeholder ARN in account 000000000000. Needs the SAM CLI's YAML
loader, which understands CloudFormation's short intrinsic tags.
"""

import sys

from samcli.yamlhelper import yaml_parse

LOCAL_ACCOUNT_ID = "000000000000"
LOCAL_REGION = "us-east-1"


def resolve(value, template):
    """Return the local value of one template value, or raise ValueError."""
    if isinstance(value, (str, int, float)):
        return str(value)

    if isinstance(value, dict) and list(value) == ["Ref"]:
        name = value["Ref"]
        parameter = template.get("Parameters", {}).get(name)
        if parameter is not None:
            if "Default" not in parameter:
                raise ValueError(f"parameter {name} has no default value to use locally")
            return str(parameter["Default"])
        if name in template["Resources"]:
            return name
        raise ValueError(f"Ref to {name}, which is neither a parameter nor a resource")

    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        target = value["Fn::GetAtt"]
        logical_id, attribute = target if isinstance(target, list) else target.split(".", 1)
        if attribute != "Arn":
            raise ValueError(f"unsupported attribute {logical_id}.{attribute}, only Arn is supported")
        resource_type = template["Resources"][logical_id]["Type"]
        if resource_type == "AWS::IAM::Role":
            return f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/{logical_id}"
        return f"arn:aws:local:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{logical_id}"

    raise ValueError(f"unsupported intrinsic function {value!r}")


def function_setting(name, properties, globals_function, default):
    return properties.get(name, globals_function.get(name, default))


def main():
    template_path, logical_id = sys.argv[1], sys.argv[2]
    with open(template_path, encoding="utf-8") as template_file:
        template = yaml_parse(template_file.read())

    resource = template["Resources"].get(logical_id)
    if resource is None or resource["Type"] != "AWS::Serverless::Function":
        sys.exit(f"{logical_id} is not an AWS::Serverless::Function in {template_path}")

    globals_function = template.get("Globals", {}).get("Function", {})
    properties = resource.get("Properties", {})

    variables = {}
    variables.update(globals_function.get("Environment", {}).get("Variables", {}))
    variables.update(properties.get("Environment", {}).get("Variables", {}))

    logging_config = {}
    logging_config.update(globals_function.get("LoggingConfig", {}))
    logging_config.update(properties.get("LoggingConfig", {}))

    # Lambda's defaults: 128 MB, 3 seconds, text logs at INFO.
    lines = {name: resolve(value, template) for name, value in variables.items()}
    lines["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = resolve(
        function_setting("MemorySize", properties, globals_function, 128), template
    )
    lines["AWS_LAMBDA_LOG_FORMAT"] = resolve(logging_config.get("LogFormat", "Text"), template)
    lines["AWS_LAMBDA_LOG_LEVEL"] = resolve(logging_config.get("ApplicationLogLevel", "INFO"), template)
    lines["FUNCTION_TIMEOUT"] = resolve(function_setting("Timeout", properties, globals_function, 3), template)

    for name, value in lines.items():
        print(f"{name}={value}")


if __name__ == "__main__":
    try:
        main()
    except ValueError as error:
        sys.exit(f"cannot resolve the environment of {sys.argv[2]}: {error}")
