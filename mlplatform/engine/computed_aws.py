"""Computed outputs of the AWS services public programs read back most (rows of ``OUTPUTS``).

URLs, DNS names, endpoints, statuses and ARNs as the service reports them after creation,
in the resource's region and partition, deterministically (digests of the URN). Each
function runs after the common AWS defaults (``computed._aws_defaults``: region, account,
the generic id and ARN) and may replace them.
"""

from __future__ import annotations

from typing import Any

from mlplatform.engine.cloud import digest
from mlplatform.engine.new_resource import NewResource, OutputHandler, given_name

_LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def _alnum(resource: NewResource, salt: str, length: int) -> str:
    """A lower-case alphanumeric id like API Gateway's and AppSync's."""
    value = int(digest(resource.urn, salt, length=32), 16)
    chars = []
    for _ in range(length):
        value, index = divmod(value, len(_LOWER_ALNUM))
        chars.append(_LOWER_ALNUM[index])
    return "".join(chars)


def _text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


# --- API Gateway (REST and HTTP/WebSocket) and AppSync ---------------------------------------


def _execute_api_host(resource: NewResource, api_id: str) -> str:
    return f"{api_id}.execute-api.{resource.region}.{resource.dns_suffix}"


def _rest_api(resource: NewResource) -> None:
    api_id = _alnum(resource, "api", 10)
    resource.id = api_id
    resource.arn = resource.arn_of("apigateway", f"/restapis/{api_id}", account=False)
    resource.state.update(
        rootResourceId=_alnum(resource, "root", 10),
        executionArn=resource.arn_of("execute-api", api_id),
        createdDate="2026-01-01T00:00:00Z",
    )


def _rest_api_child(resource: NewResource) -> None:
    """Resources, methods, integrations, authorizers...: short ids of their own."""
    resource.id = _alnum(resource, "id", 6)
    path_part = resource.inputs.get("pathPart")
    if isinstance(path_part, str):
        resource.state.setdefault("path", f"/{path_part}")


def _rest_stage_urls(resource: NewResource, stage: str) -> None:
    api_id = _text(resource.inputs.get("restApi"), "api")
    resource.state.update(
        invokeUrl=f"https://{_execute_api_host(resource, api_id)}/{stage}",
        executionArn=resource.arn_of("execute-api", f"{api_id}/{stage}"),
    )


def _rest_deployment(resource: NewResource) -> None:
    resource.id = _alnum(resource, "id", 6)
    resource.state.setdefault("createdDate", "2026-01-01T00:00:00Z")
    _rest_stage_urls(resource, _text(resource.inputs.get("stageName")))


def _rest_stage(resource: NewResource) -> None:
    stage = _text(resource.inputs.get("stageName"), "stage")
    api_id = _text(resource.inputs.get("restApi"), "api")
    resource.id = f"ags-{api_id}-{stage}"
    resource.arn = resource.arn_of(
        "apigateway", f"/restapis/{api_id}/stages/{stage}", account=False
    )
    _rest_stage_urls(resource, stage)


def _http_api(resource: NewResource) -> None:
    api_id = _alnum(resource, "api", 10)
    scheme = "wss" if resource.inputs.get("protocolType") == "WEBSOCKET" else "https"
    resource.id = api_id
    resource.arn = resource.arn_of("apigateway", f"/apis/{api_id}", account=False)
    resource.state.update(
        apiEndpoint=f"{scheme}://{_execute_api_host(resource, api_id)}",
        executionArn=resource.arn_of("execute-api", api_id),
    )


def _http_api_child(resource: NewResource) -> None:
    resource.id = _alnum(resource, "id", 7)


def _http_stage(resource: NewResource) -> None:
    api_id = _text(resource.inputs.get("apiId"), "api")
    stage = _text(resource.inputs.get("name"), "$default")
    resource.id = stage
    resource.arn = resource.arn_of("apigateway", f"/apis/{api_id}/stages/{stage}", account=False)
    path = "" if stage == "$default" else stage
    resource.state.update(
        invokeUrl=f"https://{_execute_api_host(resource, api_id)}/{path}",
        executionArn=resource.arn_of("execute-api", f"{api_id}/{stage}"),
    )


def _appsync_api(resource: NewResource) -> None:
    api_id = _alnum(resource, "api", 26)
    host = digest(resource.urn, "host", length=26)
    resource.id = api_id
    resource.arn = resource.arn_of("appsync", f"apis/{api_id}")
    resource.state.update(
        uris={
            "GRAPHQL": f"https://{host}.appsync-api.{resource.region}.{resource.dns_suffix}/graphql",
            "REALTIME": f"wss://{host}.appsync-realtime-api.{resource.region}."
            f"{resource.dns_suffix}/graphql",
        }
    )


def _appsync_api_key(resource: NewResource) -> None:
    key_id = "da2-" + _alnum(resource, "key", 26)
    resource.id = f"{_text(resource.inputs.get('apiId'), 'api')}:{key_id}"
    resource.state.update(key=key_id)


def _appsync_child(resource: NewResource) -> None:
    """Data sources, resolvers, functions: an ARN under their API."""
    api_id = _text(resource.inputs.get("apiId"), "api")
    label = (
        _text(resource.inputs.get("name")) or _text(resource.inputs.get("field")) or resource.name
    )
    kind = resource.kind.lower()
    resource.id = f"{api_id}-{label}"
    resource.arn = resource.arn_of("appsync", f"apis/{api_id}/{kind}s/{label}")


# --- load balancing, CloudFront, certificates, DNS -------------------------------------------


def _lb_name(resource: NewResource) -> str:
    # Load balancer and target group names are at most 32 characters.
    given = resource.inputs.get("name")
    if isinstance(given, str) and given:
        return given
    resource.known_at_preview.add("name")
    return f"{resource.name[:24]}-{digest(resource.urn, length=7)}"


def _load_balancer(resource: NewResource) -> None:
    name = _lb_name(resource)
    kind = {"network": "net", "gateway": "gwy"}.get(
        _text(resource.inputs.get("loadBalancerType")), "app"
    )
    suffix = f"{kind}/{name}/{digest(resource.urn, 'lb', length=16)}"
    internal = "internal-" if resource.inputs.get("internal") else ""
    resource.arn = resource.arn_of("elasticloadbalancing", f"loadbalancer/{suffix}")
    resource.id = resource.arn
    resource.state.update(
        name=name,
        arnSuffix=suffix,
        dnsName=f"{internal}{name}-{resource.number('dns', modulo=10**10)}."
        f"{resource.region}.elb.{resource.dns_suffix}",
        zoneId=f"Z{digest(resource.region, 'elb', length=13).upper()}",
        vpcId=resource.inputs.get("vpcId") or f"vpc-{digest(resource.urn, 'vpc')}",
    )


def _classic_load_balancer(resource: NewResource) -> None:
    name = _lb_name(resource)
    resource.id = name
    resource.arn = resource.arn_of("elasticloadbalancing", f"loadbalancer/{name}")
    resource.state.update(
        name=name,
        dnsName=f"{name}-{resource.number('dns', modulo=10**10)}."
        f"{resource.region}.elb.{resource.dns_suffix}",
        zoneId=f"Z{digest(resource.region, 'elb', length=13).upper()}",
    )


def _target_group(resource: NewResource) -> None:
    name = _lb_name(resource)
    suffix = f"targetgroup/{name}/{digest(resource.urn, 'tg', length=16)}"
    resource.arn = resource.arn_of("elasticloadbalancing", suffix)
    resource.id = resource.arn
    resource.state.update(name=name, arnSuffix=suffix)


def _listener(resource: NewResource) -> None:
    balancer = _text(resource.inputs.get("loadBalancerArn"))
    base = balancer.split(":loadbalancer/", 1)[1] if ":loadbalancer/" in balancer else "app/lb/0"
    resource.arn = resource.arn_of(
        "elasticloadbalancing", f"listener/{base}/{digest(resource.urn, 'l', length=16)}"
    )
    resource.id = resource.arn


def _cloudfront_distribution(resource: NewResource) -> None:
    distribution = "E" + digest(resource.urn, "cf", length=13).upper()
    resource.id = distribution
    resource.arn = resource.arn_of("cloudfront", f"distribution/{distribution}", regional=False)
    resource.state.update(
        domainName=f"d{digest(resource.urn, 'd', length=13)}.cloudfront.net",
        # CloudFront's one hosted zone, the same for every distribution.
        hostedZoneId="Z2FDTNDATAQYW2",
        status="Deployed",
        etag="E" + digest(resource.urn, "etag", length=13).upper(),
        callerReference=digest(resource.urn, "ref", length=16),
        inProgressValidationBatches=0,
        lastModifiedTime="2026-01-01T00:00:00Z",
    )


def _cloudfront_identity(resource: NewResource) -> None:
    identity = "E" + digest(resource.urn, "oai", length=13).upper()
    resource.id = identity
    resource.state.update(
        iamArn=f"arn:{resource.partition}:iam::cloudfront:user/CloudFront Origin Access "
        f"Identity {identity}",
        cloudfrontAccessIdentityPath=f"origin-access-identity/cloudfront/{identity}",
        s3CanonicalUserId=digest(resource.urn, "cuid", length=64),
        etag="E" + digest(resource.urn, "etag", length=13).upper(),
    )


def _uuid(resource: NewResource, salt: str) -> str:
    hex_digits = digest(resource.urn, salt, length=32)
    return (
        f"{hex_digits[:8]}-{hex_digits[8:12]}-4{hex_digits[13:16]}"
        f"-a{hex_digits[17:20]}-{hex_digits[20:32]}"
    )


def _acm_certificate(resource: NewResource) -> None:
    resource.arn = resource.arn_of("acm", f"certificate/{_uuid(resource, 'acm')}")
    resource.id = resource.arn
    domain = _text(resource.inputs.get("domainName"))
    names = [domain] + [
        name
        for name in resource.inputs.get("subjectAlternativeNames") or []
        if isinstance(name, str)
    ]
    resource.state.update(
        status="ISSUED",
        domainValidationOptions=[
            {
                "domainName": name,
                "resourceRecordName": f"_{digest(resource.urn, name, length=32)}.{name}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{digest(resource.urn, name, 'v', length=32)}."
                "acm-validations.aws.",
            }
            for name in names
            if name
        ],
    )


def _route53_zone(resource: NewResource) -> None:
    zone_id = "Z" + digest(resource.urn, "zone", length=20).upper()
    resource.id = zone_id
    resource.arn = f"arn:{resource.partition}:route53:::hostedzone/{zone_id}"
    resource.state.update(
        zoneId=zone_id,
        nameServers=[f"ns-{n}.awsdns-{n % 64:02d}.org" for n in (101, 702, 1303, 1904)],
        primaryNameServer="ns-101.awsdns-37.org",
    )


def _route53_record(resource: NewResource) -> None:
    name = _text(resource.inputs.get("name"), resource.name)
    resource.id = f"{_text(resource.inputs.get('zoneId'), 'Z')}_{name}_" + _text(
        resource.inputs.get("type")
    )
    resource.state.update(fqdn=name.rstrip("."))


# --- compute: EC2 instances, ECS, Lambda, Step Functions, Auto Scaling -----------------------


def _ec2_instance(resource: NewResource) -> None:
    number = resource.number("ip", modulo=250 * 250)
    private_ip = f"172.31.{number // 250}.{number % 250 + 4}"
    public_ip = f"203.0.113.{number % 250 + 4}"
    compute = "compute-1" if resource.region == "us-east-1" else f"{resource.region}.compute"
    resource.state.update(
        privateIp=private_ip,
        privateDns=f"ip-{private_ip.replace('.', '-')}.{resource.region}.compute.internal",
        publicIp=public_ip,
        publicDns=f"ec2-{public_ip.replace('.', '-')}.{compute}.{resource.dns_suffix}",
        instanceState="running",
        primaryNetworkInterfaceId=f"eni-{digest(resource.urn, 'eni')}",
    )
    resource.state.setdefault("availabilityZone", f"{resource.region}a")


def _ecs_cluster(resource: NewResource) -> None:
    name = given_name(resource)
    resource.arn = resource.arn_of("ecs", f"cluster/{name}")
    resource.id = resource.arn
    resource.state.update(name=name)


def _ecs_service(resource: NewResource) -> None:
    name = given_name(resource)
    cluster = _text(resource.inputs.get("cluster"), "default").rsplit("/", 1)[-1]
    resource.arn = resource.arn_of("ecs", f"service/{cluster}/{name}")
    resource.id = resource.arn
    resource.state.update(name=name)


def _ecs_task_definition(resource: NewResource) -> None:
    family = _text(resource.inputs.get("family"), resource.aws_auto_name())
    without_revision = resource.arn_of("ecs", f"task-definition/{family}")
    resource.arn = f"{without_revision}:1"
    resource.id = family
    resource.state.update(family=family, revision=1, arnWithoutRevision=without_revision)


def _lambda_alias(resource: NewResource) -> None:
    function = _text(resource.inputs.get("functionName"), "function").rsplit(":", 1)[-1]
    alias = _text(resource.inputs.get("name"), resource.name)
    resource.arn = resource.arn_of("lambda", f"function:{function}:{alias}")
    resource.id = resource.arn
    resource.state.update(
        invokeArn=f"arn:{resource.partition}:apigateway:{resource.region}:lambda:path/"
        f"2015-03-31/functions/{resource.arn}/invocations"
    )


def _lambda_layer(resource: NewResource) -> None:
    layer = _text(resource.inputs.get("layerName"), resource.name)
    resource.state.update(
        layerArn=resource.arn_of("lambda", f"layer:{layer}"),
        version="1",
        createdDate="2026-01-01T00:00:00Z",
    )
    resource.arn = resource.arn_of("lambda", f"layer:{layer}:1")
    resource.id = resource.arn


def _lambda_function_url(resource: NewResource) -> None:
    url_id = _alnum(resource, "url", 32)
    resource.id = _text(resource.inputs.get("functionName"), "function")
    resource.state.update(
        urlId=url_id, functionUrl=f"https://{url_id}.lambda-url.{resource.region}.on.aws/"
    )


def _state_machine(resource: NewResource) -> None:
    name = given_name(resource)
    resource.arn = resource.arn_of("states", f"stateMachine:{name}")
    resource.id = resource.arn
    resource.state.update(
        name=name, status="ACTIVE", creationDate="2026-01-01T00:00:00Z", revisionId=""
    )


def _autoscaling_group(resource: NewResource) -> None:
    name = given_name(resource)
    resource.id = name
    resource.arn = resource.arn_of(
        "autoscaling",
        f"autoScalingGroup:{_uuid(resource, 'asg')}:autoScalingGroupName/{name}",
    )
    resource.state.update(name=name)


# --- messaging, events, data and storage -------------------------------------------------------


def _named_arn(
    service: str, kind: str, separator: str = "/", *, id_is_arn: bool = False
) -> OutputHandler:
    """A handler for services whose ARN is ``<kind><separator><name>`` and id the name."""

    def handler(resource: NewResource) -> None:
        name = given_name(resource)
        resource.arn = resource.arn_of(service, f"{kind}{separator}{name}" if kind else name)
        resource.id = resource.arn if id_is_arn else name
        resource.state.update(name=name)

    return handler


def _sns_subscription(resource: NewResource) -> None:
    topic = _text(resource.inputs.get("topic"), resource.arn_of("sns", "topic"))
    resource.arn = f"{topic}:{_uuid(resource, 'sub')}"
    resource.id = resource.arn


def _redshift_cluster(resource: NewResource) -> None:
    cluster = given_name(resource, "clusterIdentifier")
    host = f"{cluster}.{digest(resource.urn, 'rs', length=12)}.{resource.region}.redshift." + (
        resource.dns_suffix
    )
    port = resource.inputs.get("port") or 5439
    resource.id = cluster
    resource.arn = resource.arn_of("redshift", f"cluster:{cluster}")
    resource.state.update(endpoint=f"{host}:{port}", dnsName=host, port=port)


def _glue_database(resource: NewResource) -> None:
    name = given_name(resource)
    resource.id = f"{resource.account}:{name}"
    resource.arn = resource.arn_of("glue", f"database/{name}")
    resource.state.update(name=name, catalogId=resource.account)


def _efs_file_system(resource: NewResource) -> None:
    file_system = f"fs-{resource.urn_digest}"
    resource.id = file_system
    resource.arn = resource.arn_of("elasticfilesystem", f"file-system/{file_system}")
    resource.state.update(dnsName=f"{file_system}.efs.{resource.region}.{resource.dns_suffix}")


def _s3_website(resource: NewResource) -> None:
    # Regions launched before 2014 write ``s3-website-<region>``, later ones ``s3-website.<region>``.
    dash_regions = {
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
        "us-gov-west-1",
    }
    separator = "-" if resource.region in dash_regions else "."
    domain = f"s3-website{separator}{resource.region}.{resource.dns_suffix}"
    bucket = _text(resource.inputs.get("bucket"), "bucket")
    resource.id = bucket
    resource.state.update(websiteDomain=domain, websiteEndpoint=f"{bucket}.{domain}")


def _s3_object(resource: NewResource) -> None:
    key = _text(resource.inputs.get("key"), resource.name)
    bucket = _text(resource.inputs.get("bucket"), "bucket")
    resource.id = key
    resource.arn = f"arn:{resource.partition}:s3:::{bucket}/{key}"
    resource.state.update(
        key=key, etag=digest(resource.urn, "etag", length=32), versionId="", storageClass="STANDARD"
    )


def _ssm_parameter(resource: NewResource) -> None:
    name = _text(resource.inputs.get("name"), resource.name)
    path = name if name.startswith("/") else f"/{name}"
    resource.id = name
    resource.arn = resource.arn_of("ssm", f"parameter{path}")
    resource.state.update(version=1, tier=resource.inputs.get("tier") or "Standard")


def _secret_version(resource: NewResource) -> None:
    secret = _text(resource.inputs.get("secretId"))
    resource.state.update(
        versionId=_uuid(resource, "version"), versionStages=["AWSCURRENT"], arn=secret
    )


def _iam_access_key(resource: NewResource) -> None:
    resource.id = "AKIA" + digest(resource.urn, "key", length=16).upper()
    resource.state.update(
        secret=digest(resource.urn, "secret", length=40),
        status=resource.inputs.get("status") or "Active",
        createDate="2026-01-01T00:00:00Z",
    )


AWS_SERVICE_OUTPUTS: dict[str, OutputHandler] = {
    # API Gateway, AppSync
    "aws:apigateway/restApi:RestApi": _rest_api,
    "aws:apigateway": _rest_api_child,
    "aws:apigateway/deployment:Deployment": _rest_deployment,
    "aws:apigateway/stage:Stage": _rest_stage,
    "aws:apigatewayv2/api:Api": _http_api,
    "aws:apigatewayv2": _http_api_child,
    "aws:apigatewayv2/stage:Stage": _http_stage,
    "aws:appsync/graphQLApi:GraphQLApi": _appsync_api,
    "aws:appsync/apiKey:ApiKey": _appsync_api_key,
    "aws:appsync": _appsync_child,
    # load balancing, CloudFront, certificates, DNS
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:alb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:elb/loadBalancer:LoadBalancer": _classic_load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:alb/targetGroup:TargetGroup": _target_group,
    "aws:lb/listener:Listener": _listener,
    "aws:alb/listener:Listener": _listener,
    "aws:cloudfront/distribution:Distribution": _cloudfront_distribution,
    "aws:cloudfront/originAccessIdentity:OriginAccessIdentity": _cloudfront_identity,
    "aws:acm/certificate:Certificate": _acm_certificate,
    "aws:route53/zone:Zone": _route53_zone,
    "aws:route53/record:Record": _route53_record,
    # compute
    "aws:ec2/instance:Instance": _ec2_instance,
    "aws:ecs/cluster:Cluster": _ecs_cluster,
    "aws:ecs/service:Service": _ecs_service,
    "aws:ecs/taskDefinition:TaskDefinition": _ecs_task_definition,
    "aws:lambda/alias:Alias": _lambda_alias,
    "aws:lambda/layerVersion:LayerVersion": _lambda_layer,
    "aws:lambda/functionUrl:FunctionUrl": _lambda_function_url,
    "aws:sfn/stateMachine:StateMachine": _state_machine,
    "aws:autoscaling/group:Group": _autoscaling_group,
    # messaging, events, data, storage
    "aws:sns/topic:Topic": _named_arn("sns", "", id_is_arn=True),
    "aws:sns/topicSubscription:TopicSubscription": _sns_subscription,
    "aws:cloudwatch/eventRule:EventRule": _named_arn("events", "rule"),
    "aws:cloudwatch/eventBus:EventBus": _named_arn("events", "event-bus"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _named_arn("cloudwatch", "alarm", ":"),
    "aws:kinesis/stream:Stream": _named_arn("kinesis", "stream", id_is_arn=True),
    "aws:redshift/cluster:Cluster": _redshift_cluster,
    "aws:glue/catalogDatabase:CatalogDatabase": _glue_database,
    "aws:glue/job:Job": _named_arn("glue", "job"),
    "aws:glue/crawler:Crawler": _named_arn("glue", "crawler"),
    "aws:efs/fileSystem:FileSystem": _efs_file_system,
    "aws:s3/bucketWebsiteConfiguration:BucketWebsiteConfiguration": _s3_website,
    "aws:s3/bucketWebsiteConfigurationV2:BucketWebsiteConfigurationV2": _s3_website,
    "aws:s3/bucketObject:BucketObject": _s3_object,
    "aws:s3/bucketObjectv2:BucketObjectv2": _s3_object,
    "aws:ssm/parameter:Parameter": _ssm_parameter,
    "aws:secretsmanager/secretVersion:SecretVersion": _secret_version,
    "aws:iam/accessKey:AccessKey": _iam_access_key,
}
"""Type token (or ``aws:<module>``) -> the function that answers it."""
