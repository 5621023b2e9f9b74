"""The type of one ``callbacks`` item: the schema its ``type`` names.

A discriminated union of every schema would build all fifteen whenever the
config schema is built; this validator builds only the ones a config names,
and its JSON Schema is the union's (``oneOf`` the schemas).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from cbrun.config.callbacks.base import CallbackSchema
from cbrun.config.callbacks.custom import CustomCallbackSchema
from cbrun.config.callbacks.registry import (
    CUSTOM_TAG,
    all_callback_schemas,
    callback_schema,
    callback_tag,
)

UNKNOWN_CALLBACK_ERROR = "unknown_callback_type"


def _validate(value: Any) -> CallbackSchema:
    tag = callback_tag(value)
    schema = None if tag is None else callback_schema(tag)
    if schema is None:
        raise PydanticCustomError(UNKNOWN_CALLBACK_ERROR, "unknown callback type")
    # pydantic-core keeps the places of the schema's errors, below this item's.
    return schema.model_validate(value)


class _ByType:
    """``Annotated`` metadata: validate with the schema that ``type`` names."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(_validate)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # The union of every schema, tagged as _validate picks one: pydantic
        # writes it as `oneOf` them.
        choices: dict[str, type[CallbackSchema]] = {
            **all_callback_schemas(),
            CUSTOM_TAG: CustomCallbackSchema,
        }
        for model in choices.values():
            model.model_rebuild()  # a deferred schema is built on first use
        union = core_schema.tagged_union_schema(
            {tag: model.__pydantic_core_schema__ for tag, model in choices.items()},
            discriminator=callback_tag,
        )
        return handler(union)


CallbackConfig = Annotated[CallbackSchema, _ByType()]
"""One item of ``callbacks:``, validated by the schema its ``type`` names."""
