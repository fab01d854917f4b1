import { registerEnumType } from 'type-graphql';

export enum FileType {
  IMAGE = 'IMAGE',
  VIDEO = 'VIDEO',
  AUDIO = 'AUDIO',
  DOCUMENT = 'DOCUMENT',
}

export enum ProcessingStatus {
  PENDING = 'PENDING',
  PROCESSING = 'PROCESSING',
  COMPLETE = 'COMPLETE',
  FAILED = 'FAILED',
}

export enum StoryStatus {
  GENERATING = 'GENERATING',
  READY = 'READY',
  FAILED = 'FAILED',
}

export enum StoryStyle {
  COMPREHENSIVE = 'COMPREHENSIVE',
  BRIEF = 'BRIEF',
  FOR_CHILDREN = 'FOR_CHILDREN',
  EULOGY = 'EULOGY',
}

export enum ContributionStatus {
  PENDING = 'PENDING',
  APPROVED = 'APPROVED',
  REJECTED = 'REJECTED',
}

export enum TagSource {
  EXIF = 'EXIF',
  AI = 'AI',
  KEYWORD = 'KEYWORD',
  USER = 'USER',
}

registerEnumType(FileType, { name: 'FileType', description: 'What kind of memory a file is.' });
registerEnumType(ProcessingStatus, { name: 'ProcessingStatus', description: 'Where an asset is in the processing pipeline.' });
registerEnumType(StoryStatus, { name: 'StoryStatus' });
registerEnumType(StoryStyle, { name: 'StoryStyle', description: 'The voice a story is written in.' });
registerEnumType(ContributionStatus, { name: 'ContributionStatus' });
registerEnumType(TagSource, { name: 'TagSource', description: 'Who or what attached a tag.' });

export enum ChestRole {
  OWNER = 'OWNER',
  EDITOR = 'EDITOR',
  VIEWER = 'VIEWER',
}

registerEnumType(ChestRole, {
  name: 'ChestRole',
  description: 'OWNER: everything, including people, links and moderation. EDITOR: adds and edits memories and stories. VIEWER: reads.',
});

export enum UploadStatus {
  OPEN = 'OPEN',
  COMPLETE = 'COMPLETE',
  FAILED = 'FAILED',
}

registerEnumType(UploadStatus, { name: 'UploadStatus', description: 'OPEN: waiting for bytes. COMPLETE: stored and verified. FAILED: refused; see error.' });

export enum ChestEventKind {
  ASSET_PROCESSING = 'ASSET_PROCESSING',
  MEMORY_ADDED = 'MEMORY_ADDED',
  MEMORY_REMOVED = 'MEMORY_REMOVED',
  STORY_READY = 'STORY_READY',
  CONTRIBUTION_SUBMITTED = 'CONTRIBUTION_SUBMITTED',
}

registerEnumType(ChestEventKind, {
  name: 'ChestEventKind',
  description:
    'ASSET_PROCESSING: a pipeline stage started, progressed, finished or failed. MEMORY_ADDED: a memory became visible. MEMORY_REMOVED: a memory was moved to the bin (deleteMemory): it left every list. STORY_READY: a story finished. CONTRIBUTION_SUBMITTED: a guest sent memories (owners only).',
});

export enum ExportStatus {
  QUEUED = 'QUEUED',
  RUNNING = 'RUNNING',
  READY = 'READY',
  FAILED = 'FAILED',
}

registerEnumType(ExportStatus, { name: 'ExportStatus', description: 'QUEUED: waiting for the worker. RUNNING: being written (see progress). READY: downloadable until expiresAt. FAILED: see error.' });

export enum UploadPurpose {
  MEMORY = 'MEMORY',
  ARCHIVE = 'ARCHIVE',
}

registerEnumType(UploadPurpose, { name: 'UploadPurpose', description: 'MEMORY: a file that becomes a memory of the chest. ARCHIVE: a chest archive (ZIP) for importChest; it never becomes a memory and belongs to no chest.' });

export enum ImportStatus {
  QUEUED = 'QUEUED',
  RUNNING = 'RUNNING',
  DONE = 'DONE',
  FAILED = 'FAILED',
}

registerEnumType(ImportStatus, { name: 'ImportStatus', description: 'QUEUED: waiting for the worker. RUNNING: being read (see progress). DONE: the new chest exists. FAILED: see errorCode; no chest was created.' });
