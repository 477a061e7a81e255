{#- Custom schemas are used verbatim (raw, staging, intermediate, marts), not prefixed
    with the target schema: BI reads `marts.<table>`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
