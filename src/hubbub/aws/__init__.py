"""hubbub on AWS Lambda: the shim that runs an application's functions there.

``hubbub.aws.entry.handler`` is every exported function's Lambda handler; it binds
``hubbub.functions.sdk`` to ``hubbub.aws.services.AwsServices`` (boto3) and runs the
application's handler. ``hubbub.aws.dynamodb`` gives tables their ``Table`` interface
on DynamoDB. boto3 is imported only here (the Lambda runtime has it).
"""
