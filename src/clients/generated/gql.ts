/* eslint-disable */
import * as types from './graphql.ts';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation CancelOperation($id: ID!) {\n  cancelBulkOperation(input: {id: $id}) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": typeof types.CancelOperationDocument,
    "mutation CreateUpload {\n  createUpload {\n    upload {\n      id\n      url\n      maxBytes\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": typeof types.CreateUploadDocument,
    "query GetExport($id: ID!) {\n  bulkOperation(id: $id) {\n    id\n    status\n    export {\n      format\n      compression\n      state\n      rows\n      bytes\n      expiresAt\n    }\n  }\n}": typeof types.GetExportDocument,
    "query GetOperation($id: ID!) {\n  bulkOperation(id: $id) {\n    ...OperationFields\n  }\n}": typeof types.GetOperationDocument,
    "query ListOperations($first: Int!, $after: String, $filter: BulkOperationFilter) {\n  bulkOperations(first: $first, after: $after, filter: $filter) {\n    edges {\n      node {\n        ...OperationFields\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": typeof types.ListOperationsDocument,
    "fragment OperationFields on BulkOperation {\n  id\n  kind\n  status\n  actionType\n  description\n  createdAt\n  startedAt\n  finishedAt\n  scheduledAt\n  cancelRequestedAt\n  percent\n  throughput\n  estimatedCompletionAt\n  createdBy {\n    email\n  }\n  parent {\n    id\n  }\n  counts {\n    total\n    processed\n    succeeded\n    failed\n    skipped\n    cancelled\n    pending\n  }\n  errorSummary {\n    code\n    count\n  }\n}": typeof types.OperationFieldsFragmentDoc,
    "subscription OperationsChanged {\n  bulkOperationsChanged {\n    ...OperationFields\n  }\n}": typeof types.OperationsChangedDocument,
    "mutation PreviewOperation($input: StartBulkOperationInput!, $sample: Boolean!) {\n  previewBulkOperation(input: $input) {\n    preview {\n      previewToken\n      expiresAt\n      matchedCount\n      wouldChange\n      wouldSkip\n      wouldFail\n      estimatedDurationSeconds\n      predictedByCode {\n        code\n        count\n      }\n      sample @include(if: $sample) {\n        position\n        targetId\n        target {\n          title\n        }\n        outcome\n        code\n        message\n        before\n        after\n      }\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": typeof types.PreviewOperationDocument,
    "mutation RetryOperation($input: RetryFailedItemsInput!) {\n  retryFailedItems(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": typeof types.RetryOperationDocument,
    "mutation RollbackOperation($input: RollbackBulkOperationInput!) {\n  rollbackBulkOperation(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": typeof types.RollbackOperationDocument,
    "mutation StartExport($input: StartBulkExportInput!) {\n  startBulkExport(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": typeof types.StartExportDocument,
    "mutation StartImport($input: StartBulkImportInput!) {\n  startBulkImport(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": typeof types.StartImportDocument,
    "mutation StartOperation($input: StartBulkOperationInput!) {\n  startBulkOperation(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": typeof types.StartOperationDocument,
    "subscription WatchOperation($id: ID!) {\n  bulkOperationProgress(id: $id) {\n    ...OperationFields\n  }\n}": typeof types.WatchOperationDocument,
    "query WhoAmI {\n  viewer {\n    user {\n      id\n      email\n      role\n    }\n    tenant {\n      name\n    }\n  }\n}": typeof types.WhoAmIDocument,
    "query BulkOperation($id: ID!) {\n  bulkOperation(id: $id) {\n    id\n    status\n    kind\n    actionType\n    percent\n    throughput\n    estimatedCompletionAt\n    startedAt\n    finishedAt\n    counts {\n      total\n      processed\n      succeeded\n      failed\n      skipped\n      cancelled\n      pending\n    }\n    errorSummary {\n      code\n      count\n    }\n    action {\n      __typename\n      ... on SetStatusAction {\n        status\n      }\n      ... on SetPriorityAction {\n        priority\n      }\n    }\n  }\n}": typeof types.BulkOperationDocument,
    "subscription BulkOperationProgress($id: ID!) {\n  bulkOperationProgress(id: $id) {\n    id\n    status\n    percent\n    counts {\n      total\n      processed\n      succeeded\n      failed\n      skipped\n      cancelled\n      pending\n    }\n    errorSummary {\n      code\n      count\n    }\n  }\n}": typeof types.BulkOperationProgressDocument,
    "query BulkOperations($first: Int, $after: String, $filter: BulkOperationFilter) {\n  bulkOperations(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        id\n        status\n        kind\n        actionType\n        createdAt\n        createdBy {\n          email\n        }\n        counts {\n          total\n          processed\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": typeof types.BulkOperationsDocument,
    "mutation CancelBulkOperation($id: ID!) {\n  cancelBulkOperation(input: {id: $id}) {\n    bulkOperation {\n      id\n      status\n      cancelRequestedAt\n      counts {\n        total\n        cancelled\n      }\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": typeof types.CancelBulkOperationDocument,
    "mutation StartBulkOperation($input: StartBulkOperationInput!) {\n  startBulkOperation(input: $input) {\n    bulkOperation {\n      id\n      status\n      kind\n      actionType\n      description\n      idempotencyKey\n      scheduledAt\n      targets {\n        kind\n        requestedIds\n      }\n      counts {\n        total\n        pending\n      }\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": typeof types.StartBulkOperationDocument,
    "query Tickets($first: Int, $after: String, $filter: TicketFilter) {\n  tickets(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        status\n        priority\n        category\n        assignee {\n          id\n        }\n        deletedAt\n        version\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": typeof types.TicketsDocument,
    "query Viewer {\n  viewer {\n    user {\n      id\n      email\n      name\n      role\n    }\n    tenant {\n      id\n      name\n    }\n  }\n}": typeof types.ViewerDocument,
};
const documents: Documents = {
    "mutation CancelOperation($id: ID!) {\n  cancelBulkOperation(input: {id: $id}) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": types.CancelOperationDocument,
    "mutation CreateUpload {\n  createUpload {\n    upload {\n      id\n      url\n      maxBytes\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": types.CreateUploadDocument,
    "query GetExport($id: ID!) {\n  bulkOperation(id: $id) {\n    id\n    status\n    export {\n      format\n      compression\n      state\n      rows\n      bytes\n      expiresAt\n    }\n  }\n}": types.GetExportDocument,
    "query GetOperation($id: ID!) {\n  bulkOperation(id: $id) {\n    ...OperationFields\n  }\n}": types.GetOperationDocument,
    "query ListOperations($first: Int!, $after: String, $filter: BulkOperationFilter) {\n  bulkOperations(first: $first, after: $after, filter: $filter) {\n    edges {\n      node {\n        ...OperationFields\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": types.ListOperationsDocument,
    "fragment OperationFields on BulkOperation {\n  id\n  kind\n  status\n  actionType\n  description\n  createdAt\n  startedAt\n  finishedAt\n  scheduledAt\n  cancelRequestedAt\n  percent\n  throughput\n  estimatedCompletionAt\n  createdBy {\n    email\n  }\n  parent {\n    id\n  }\n  counts {\n    total\n    processed\n    succeeded\n    failed\n    skipped\n    cancelled\n    pending\n  }\n  errorSummary {\n    code\n    count\n  }\n}": types.OperationFieldsFragmentDoc,
    "subscription OperationsChanged {\n  bulkOperationsChanged {\n    ...OperationFields\n  }\n}": types.OperationsChangedDocument,
    "mutation PreviewOperation($input: StartBulkOperationInput!, $sample: Boolean!) {\n  previewBulkOperation(input: $input) {\n    preview {\n      previewToken\n      expiresAt\n      matchedCount\n      wouldChange\n      wouldSkip\n      wouldFail\n      estimatedDurationSeconds\n      predictedByCode {\n        code\n        count\n      }\n      sample @include(if: $sample) {\n        position\n        targetId\n        target {\n          title\n        }\n        outcome\n        code\n        message\n        before\n        after\n      }\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": types.PreviewOperationDocument,
    "mutation RetryOperation($input: RetryFailedItemsInput!) {\n  retryFailedItems(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": types.RetryOperationDocument,
    "mutation RollbackOperation($input: RollbackBulkOperationInput!) {\n  rollbackBulkOperation(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": types.RollbackOperationDocument,
    "mutation StartExport($input: StartBulkExportInput!) {\n  startBulkExport(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": types.StartExportDocument,
    "mutation StartImport($input: StartBulkImportInput!) {\n  startBulkImport(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": types.StartImportDocument,
    "mutation StartOperation($input: StartBulkOperationInput!) {\n  startBulkOperation(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": types.StartOperationDocument,
    "subscription WatchOperation($id: ID!) {\n  bulkOperationProgress(id: $id) {\n    ...OperationFields\n  }\n}": types.WatchOperationDocument,
    "query WhoAmI {\n  viewer {\n    user {\n      id\n      email\n      role\n    }\n    tenant {\n      name\n    }\n  }\n}": types.WhoAmIDocument,
    "query BulkOperation($id: ID!) {\n  bulkOperation(id: $id) {\n    id\n    status\n    kind\n    actionType\n    percent\n    throughput\n    estimatedCompletionAt\n    startedAt\n    finishedAt\n    counts {\n      total\n      processed\n      succeeded\n      failed\n      skipped\n      cancelled\n      pending\n    }\n    errorSummary {\n      code\n      count\n    }\n    action {\n      __typename\n      ... on SetStatusAction {\n        status\n      }\n      ... on SetPriorityAction {\n        priority\n      }\n    }\n  }\n}": types.BulkOperationDocument,
    "subscription BulkOperationProgress($id: ID!) {\n  bulkOperationProgress(id: $id) {\n    id\n    status\n    percent\n    counts {\n      total\n      processed\n      succeeded\n      failed\n      skipped\n      cancelled\n      pending\n    }\n    errorSummary {\n      code\n      count\n    }\n  }\n}": types.BulkOperationProgressDocument,
    "query BulkOperations($first: Int, $after: String, $filter: BulkOperationFilter) {\n  bulkOperations(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        id\n        status\n        kind\n        actionType\n        createdAt\n        createdBy {\n          email\n        }\n        counts {\n          total\n          processed\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": types.BulkOperationsDocument,
    "mutation CancelBulkOperation($id: ID!) {\n  cancelBulkOperation(input: {id: $id}) {\n    bulkOperation {\n      id\n      status\n      cancelRequestedAt\n      counts {\n        total\n        cancelled\n      }\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": types.CancelBulkOperationDocument,
    "mutation StartBulkOperation($input: StartBulkOperationInput!) {\n  startBulkOperation(input: $input) {\n    bulkOperation {\n      id\n      status\n      kind\n      actionType\n      description\n      idempotencyKey\n      scheduledAt\n      targets {\n        kind\n        requestedIds\n      }\n      counts {\n        total\n        pending\n      }\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}": types.StartBulkOperationDocument,
    "query Tickets($first: Int, $after: String, $filter: TicketFilter) {\n  tickets(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        status\n        priority\n        category\n        assignee {\n          id\n        }\n        deletedAt\n        version\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": types.TicketsDocument,
    "query Viewer {\n  viewer {\n    user {\n      id\n      email\n      name\n      role\n    }\n    tenant {\n      id\n      name\n    }\n  }\n}": types.ViewerDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CancelOperation($id: ID!) {\n  cancelBulkOperation(input: {id: $id}) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"): (typeof documents)["mutation CancelOperation($id: ID!) {\n  cancelBulkOperation(input: {id: $id}) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreateUpload {\n  createUpload {\n    upload {\n      id\n      url\n      maxBytes\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"): (typeof documents)["mutation CreateUpload {\n  createUpload {\n    upload {\n      id\n      url\n      maxBytes\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query GetExport($id: ID!) {\n  bulkOperation(id: $id) {\n    id\n    status\n    export {\n      format\n      compression\n      state\n      rows\n      bytes\n      expiresAt\n    }\n  }\n}"): (typeof documents)["query GetExport($id: ID!) {\n  bulkOperation(id: $id) {\n    id\n    status\n    export {\n      format\n      compression\n      state\n      rows\n      bytes\n      expiresAt\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query GetOperation($id: ID!) {\n  bulkOperation(id: $id) {\n    ...OperationFields\n  }\n}"): (typeof documents)["query GetOperation($id: ID!) {\n  bulkOperation(id: $id) {\n    ...OperationFields\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query ListOperations($first: Int!, $after: String, $filter: BulkOperationFilter) {\n  bulkOperations(first: $first, after: $after, filter: $filter) {\n    edges {\n      node {\n        ...OperationFields\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"): (typeof documents)["query ListOperations($first: Int!, $after: String, $filter: BulkOperationFilter) {\n  bulkOperations(first: $first, after: $after, filter: $filter) {\n    edges {\n      node {\n        ...OperationFields\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment OperationFields on BulkOperation {\n  id\n  kind\n  status\n  actionType\n  description\n  createdAt\n  startedAt\n  finishedAt\n  scheduledAt\n  cancelRequestedAt\n  percent\n  throughput\n  estimatedCompletionAt\n  createdBy {\n    email\n  }\n  parent {\n    id\n  }\n  counts {\n    total\n    processed\n    succeeded\n    failed\n    skipped\n    cancelled\n    pending\n  }\n  errorSummary {\n    code\n    count\n  }\n}"): (typeof documents)["fragment OperationFields on BulkOperation {\n  id\n  kind\n  status\n  actionType\n  description\n  createdAt\n  startedAt\n  finishedAt\n  scheduledAt\n  cancelRequestedAt\n  percent\n  throughput\n  estimatedCompletionAt\n  createdBy {\n    email\n  }\n  parent {\n    id\n  }\n  counts {\n    total\n    processed\n    succeeded\n    failed\n    skipped\n    cancelled\n    pending\n  }\n  errorSummary {\n    code\n    count\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription OperationsChanged {\n  bulkOperationsChanged {\n    ...OperationFields\n  }\n}"): (typeof documents)["subscription OperationsChanged {\n  bulkOperationsChanged {\n    ...OperationFields\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation PreviewOperation($input: StartBulkOperationInput!, $sample: Boolean!) {\n  previewBulkOperation(input: $input) {\n    preview {\n      previewToken\n      expiresAt\n      matchedCount\n      wouldChange\n      wouldSkip\n      wouldFail\n      estimatedDurationSeconds\n      predictedByCode {\n        code\n        count\n      }\n      sample @include(if: $sample) {\n        position\n        targetId\n        target {\n          title\n        }\n        outcome\n        code\n        message\n        before\n        after\n      }\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"): (typeof documents)["mutation PreviewOperation($input: StartBulkOperationInput!, $sample: Boolean!) {\n  previewBulkOperation(input: $input) {\n    preview {\n      previewToken\n      expiresAt\n      matchedCount\n      wouldChange\n      wouldSkip\n      wouldFail\n      estimatedDurationSeconds\n      predictedByCode {\n        code\n        count\n      }\n      sample @include(if: $sample) {\n        position\n        targetId\n        target {\n          title\n        }\n        outcome\n        code\n        message\n        before\n        after\n      }\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation RetryOperation($input: RetryFailedItemsInput!) {\n  retryFailedItems(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"): (typeof documents)["mutation RetryOperation($input: RetryFailedItemsInput!) {\n  retryFailedItems(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation RollbackOperation($input: RollbackBulkOperationInput!) {\n  rollbackBulkOperation(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"): (typeof documents)["mutation RollbackOperation($input: RollbackBulkOperationInput!) {\n  rollbackBulkOperation(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation StartExport($input: StartBulkExportInput!) {\n  startBulkExport(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"): (typeof documents)["mutation StartExport($input: StartBulkExportInput!) {\n  startBulkExport(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation StartImport($input: StartBulkImportInput!) {\n  startBulkImport(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"): (typeof documents)["mutation StartImport($input: StartBulkImportInput!) {\n  startBulkImport(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation StartOperation($input: StartBulkOperationInput!) {\n  startBulkOperation(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"): (typeof documents)["mutation StartOperation($input: StartBulkOperationInput!) {\n  startBulkOperation(input: $input) {\n    bulkOperation {\n      ...OperationFields\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription WatchOperation($id: ID!) {\n  bulkOperationProgress(id: $id) {\n    ...OperationFields\n  }\n}"): (typeof documents)["subscription WatchOperation($id: ID!) {\n  bulkOperationProgress(id: $id) {\n    ...OperationFields\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query WhoAmI {\n  viewer {\n    user {\n      id\n      email\n      role\n    }\n    tenant {\n      name\n    }\n  }\n}"): (typeof documents)["query WhoAmI {\n  viewer {\n    user {\n      id\n      email\n      role\n    }\n    tenant {\n      name\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query BulkOperation($id: ID!) {\n  bulkOperation(id: $id) {\n    id\n    status\n    kind\n    actionType\n    percent\n    throughput\n    estimatedCompletionAt\n    startedAt\n    finishedAt\n    counts {\n      total\n      processed\n      succeeded\n      failed\n      skipped\n      cancelled\n      pending\n    }\n    errorSummary {\n      code\n      count\n    }\n    action {\n      __typename\n      ... on SetStatusAction {\n        status\n      }\n      ... on SetPriorityAction {\n        priority\n      }\n    }\n  }\n}"): (typeof documents)["query BulkOperation($id: ID!) {\n  bulkOperation(id: $id) {\n    id\n    status\n    kind\n    actionType\n    percent\n    throughput\n    estimatedCompletionAt\n    startedAt\n    finishedAt\n    counts {\n      total\n      processed\n      succeeded\n      failed\n      skipped\n      cancelled\n      pending\n    }\n    errorSummary {\n      code\n      count\n    }\n    action {\n      __typename\n      ... on SetStatusAction {\n        status\n      }\n      ... on SetPriorityAction {\n        priority\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription BulkOperationProgress($id: ID!) {\n  bulkOperationProgress(id: $id) {\n    id\n    status\n    percent\n    counts {\n      total\n      processed\n      succeeded\n      failed\n      skipped\n      cancelled\n      pending\n    }\n    errorSummary {\n      code\n      count\n    }\n  }\n}"): (typeof documents)["subscription BulkOperationProgress($id: ID!) {\n  bulkOperationProgress(id: $id) {\n    id\n    status\n    percent\n    counts {\n      total\n      processed\n      succeeded\n      failed\n      skipped\n      cancelled\n      pending\n    }\n    errorSummary {\n      code\n      count\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query BulkOperations($first: Int, $after: String, $filter: BulkOperationFilter) {\n  bulkOperations(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        id\n        status\n        kind\n        actionType\n        createdAt\n        createdBy {\n          email\n        }\n        counts {\n          total\n          processed\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"): (typeof documents)["query BulkOperations($first: Int, $after: String, $filter: BulkOperationFilter) {\n  bulkOperations(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        id\n        status\n        kind\n        actionType\n        createdAt\n        createdBy {\n          email\n        }\n        counts {\n          total\n          processed\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CancelBulkOperation($id: ID!) {\n  cancelBulkOperation(input: {id: $id}) {\n    bulkOperation {\n      id\n      status\n      cancelRequestedAt\n      counts {\n        total\n        cancelled\n      }\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"): (typeof documents)["mutation CancelBulkOperation($id: ID!) {\n  cancelBulkOperation(input: {id: $id}) {\n    bulkOperation {\n      id\n      status\n      cancelRequestedAt\n      counts {\n        total\n        cancelled\n      }\n    }\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation StartBulkOperation($input: StartBulkOperationInput!) {\n  startBulkOperation(input: $input) {\n    bulkOperation {\n      id\n      status\n      kind\n      actionType\n      description\n      idempotencyKey\n      scheduledAt\n      targets {\n        kind\n        requestedIds\n      }\n      counts {\n        total\n        pending\n      }\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"): (typeof documents)["mutation StartBulkOperation($input: StartBulkOperationInput!) {\n  startBulkOperation(input: $input) {\n    bulkOperation {\n      id\n      status\n      kind\n      actionType\n      description\n      idempotencyKey\n      scheduledAt\n      targets {\n        kind\n        requestedIds\n      }\n      counts {\n        total\n        pending\n      }\n    }\n    replayed\n    userErrors {\n      code\n      field\n      message\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Tickets($first: Int, $after: String, $filter: TicketFilter) {\n  tickets(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        status\n        priority\n        category\n        assignee {\n          id\n        }\n        deletedAt\n        version\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"): (typeof documents)["query Tickets($first: Int, $after: String, $filter: TicketFilter) {\n  tickets(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        status\n        priority\n        category\n        assignee {\n          id\n        }\n        deletedAt\n        version\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Viewer {\n  viewer {\n    user {\n      id\n      email\n      name\n      role\n    }\n    tenant {\n      id\n      name\n    }\n  }\n}"): (typeof documents)["query Viewer {\n  viewer {\n    user {\n      id\n      email\n      name\n      role\n    }\n    tenant {\n      id\n      name\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;