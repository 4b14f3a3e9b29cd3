import { SearchAttributeType, TypedSearchAttributes, defineSearchAttributeKey } from '@temporalio/common';
import { type OperationType, SEARCH_ATTRIBUTE_NAMES } from './operations';

/** Typed keys of the engine's search attributes (workflow-safe; shared by the API and the scan workflows). */
export const SA = {
  type: defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.type, SearchAttributeType.KEYWORD),
  portfolio: defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.portfolio, SearchAttributeType.KEYWORD),
  account: defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.account, SearchAttributeType.KEYWORD),
  unit: defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.unit, SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey(SEARCH_ATTRIBUTE_NAMES.status, SearchAttributeType.KEYWORD),
};

export function operationAttributes(type: OperationType | 'scan' | 'import', attrs: { portfolio?: string; account?: string; unit?: string }): TypedSearchAttributes {
  return new TypedSearchAttributes([
    { key: SA.type, value: type },
    ...(attrs.portfolio ? [{ key: SA.portfolio, value: attrs.portfolio }] : []),
    ...(attrs.account ? [{ key: SA.account, value: attrs.account }] : []),
    ...(attrs.unit ? [{ key: SA.unit, value: attrs.unit }] : []),
  ]);
}
