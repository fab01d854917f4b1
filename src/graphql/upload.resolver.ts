import { Arg, Ctx, Field, GraphQLISODateTime, ID, InputType, Mutation, ObjectType, Resolver, Root, Subscription } from 'type-graphql';
import { GraphQLSafeInt } from 'graphql-scalars';
import { Upload } from '../db/entities/index.js';
import { UploadPurpose, UploadStatus } from '../db/enums.js';
import { type UploadProgressEvent, watchUploads } from '../domain/upload/upload-progress.js';
import { createUpload } from '../domain/upload/upload.service.js';
import type { Context } from './context.js';

@InputType({ description: 'A file you are about to send. Give chestId (members) or guestToken (guests).' })
export class CreateUploadInput {
  @Field(() => ID, { nullable: true })
  chestId?: string | null;

  @Field(() => String, { nullable: true, description: 'The guest token from submitContribution.' })
  guestToken?: string | null;

  @Field(() => UploadPurpose, { defaultValue: UploadPurpose.MEMORY, description: 'ARCHIVE: a chest archive (ZIP) for importChest, without chestId or guestToken; any signed-in account.' })
  purpose!: UploadPurpose;

  @Field(() => String)
  filename!: string;

  @Field(() => GraphQLSafeInt, { description: 'Exact size in bytes.' })
  size!: number;

  @Field(() => String, { nullable: true, description: 'What you believe the type is; the bytes decide.' })
  mimeType?: string | null;

  @Field(() => String, { nullable: true, description: 'SHA-256 (hex) of the file, checked at the end.' })
  sha256?: string | null;
}

@ObjectType({ simpleResolvers: true })
export class HttpHeader {
  @Field(() => String)
  name!: string;

  @Field(() => String)
  value!: string;
}

@ObjectType({ simpleResolvers: true, description: 'Where and how to send the bytes. The token in the headers is shown only this once.' })
export class UploadTicket {
  @Field(() => Upload)
  upload!: Upload;

  @Field(() => String, { description: 'Path on this server to PATCH the bytes to (HEAD it to learn the offset to resume from).' })
  url!: string;

  @Field(() => [HttpHeader], { description: 'Headers every request to url must carry (Upload-Offset changes as you go).' })
  headers!: HttpHeader[];

  @Field(() => GraphQLISODateTime)
  expiresAt!: Date;
}

@ObjectType({ simpleResolvers: true, description: 'An upload in flight, as members watching the chest see it.' })
export class UploadProgress {
  @Field(() => ID)
  uploadId!: string;

  @Field(() => ID)
  chestId!: string;

  @Field(() => String)
  filename!: string;

  @Field(() => GraphQLSafeInt)
  bytesReceived!: number;

  @Field(() => GraphQLSafeInt)
  totalBytes!: number;

  @Field(() => UploadStatus)
  status!: UploadStatus;
}

@Resolver(() => Upload)
export class UploadResolver {
  @Subscription(() => UploadProgress, {
    description:
      "Everyone's uploads into a chest, live (at most every 250 ms per upload, and the final state). Members only; guests' uploads for a contribution awaiting approval reach owners and editors only.",
    subscribe: ({ args, context }) => {
      const ctx = context as Context;
      return watchUploads(ctx.em, ctx.fork, ctx.viewer, ctx.actor, args.chestId as string, ctx.events);
    },
  })
  uploadProgress(@Root() event: UploadProgressEvent, @Arg('chestId', () => ID) _chestId: string): UploadProgressEvent {
    return event;
  }

  @Mutation(() => UploadTicket, { description: 'Starts an upload. Members with EDITOR or OWNER, or a guest for their pending contribution.' })
  async createUpload(@Arg('input', () => CreateUploadInput) input: CreateUploadInput, @Ctx() ctx: Context): Promise<UploadTicket> {
    const { upload, token } = await createUpload(
      ctx.em,
      ctx.actor,
      { ...input, mimeType: input.mimeType ?? undefined },
      ctx.config.uploads,
      ctx.guard,
    );
    return {
      upload,
      url: `/uploads/${upload.id}`,
      headers: [
        { name: 'Authorization', value: `Upload ${token}` },
        { name: 'Content-Type', value: 'application/offset+octet-stream' },
        { name: 'Upload-Offset', value: '0' },
      ],
      expiresAt: upload.expiresAt,
    };
  }
}
