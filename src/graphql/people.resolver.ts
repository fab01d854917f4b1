import { Arg, Args, Ctx, FieldResolver, ID, Int, Mutation, Resolver, Root } from 'type-graphql';
import { Asset, Chest, Face, Person } from '../db/entities/index.js';
import { coverUrl, facesShown, listPeople, personOfFace } from '../domain/people/people.nested.js';
import { mergePeople, moveFace, namePerson, setPersonHidden } from '../domain/people/people.service.js';
import { pageSize } from '../domain/pagination.js';
import { PageArgsGql } from './chest.types.js';
import { connectionType, type ConnectionShape, toConnection } from './connection.js';
import type { Context } from './context.js';

export const PersonConnection = connectionType('Person', Person);
/** The memories one person appears in (no totalCount: faceCount says how often). */
export const PersonAssetConnection = connectionType('PersonAsset', Asset);

/** Transport only: people below a chest, faces below a memory, and what owners and editors decide about them. */
@Resolver(() => Chest)
export class ChestPeopleResolver {
  @FieldResolver(() => PersonConnection, {
    description:
      "The people whose faces appear in the chest's photos: named first (by name), then the groups nobody has named yet. The chest's members see everyone, hidden people too; everyone else only people the family named and did not hide.",
  })
  async people(@Root() chest: Chest, @Args(() => PageArgsGql) args: PageArgsGql, @Ctx() ctx: Context): Promise<ConnectionShape<Person>> {
    return toConnection(await listPeople(ctx.actor, chest, args, ctx.config.maxPageSize, (key) => ctx.loaders.peoplePages.load(key)));
  }
}

@Resolver(() => Person)
export class PersonResolver {
  @FieldResolver(() => Int, { description: 'Faces of this person on memories the chest shows.' })
  faceCount(@Root() person: Person, @Ctx() ctx: Context): Promise<number> {
    return ctx.loaders.faceCounts.load(person.id);
  }

  @FieldResolver(() => String, { nullable: true, description: 'A link to a square crop of their face (WebP, no metadata), valid 5 minutes.' })
  async cover(@Root() person: Person, @Ctx() ctx: Context): Promise<string | null> {
    return coverUrl(await ctx.loaders.covers.load(person.id), ctx.storage, ctx.config.secretKey);
  }

  @FieldResolver(() => PersonAssetConnection, { description: 'The memories they appear in, by date taken (newest first, undated last), then by when they were added.' })
  async assets(@Root() person: Person, @Args(() => PageArgsGql) args: PageArgsGql, @Ctx() ctx: Context): Promise<ConnectionShape<Asset>> {
    const limit = pageSize(args.first, ctx.config.maxPageSize);
    return toConnection(await ctx.loaders.personAssetPages.load({ personId: person.id, limit, after: args.after ?? null }));
  }

  @Mutation(() => Person, { description: 'Owners and editors: what the family calls this person (up to 100 characters). Null or "" clears it; only named people are shown outside the family.' })
  namePerson(@Arg('personId', () => ID) personId: string, @Arg('name', () => String, { nullable: true }) name: string | null, @Ctx() ctx: Context): Promise<Person> {
    return namePerson(ctx.em, ctx.actor, { personId, name });
  }

  @Mutation(() => Person, {
    description:
      "Owners and editors: two groups of faces are one person. personId's faces join intoPersonId, who keeps their name (or takes the other's) and stays hidden if either was; personId is gone afterwards.",
  })
  mergePeople(@Arg('personId', () => ID) personId: string, @Arg('intoPersonId', () => ID) intoPersonId: string, @Ctx() ctx: Context): Promise<Person> {
    return mergePeople(ctx.em, ctx.actor, ctx.queue, { personId, intoPersonId });
  }

  @Mutation(() => Face, { description: "Owners and editors: whose face this is (personId), or nobody's (null). The AI never moves it again." })
  moveFace(@Arg('faceId', () => ID) faceId: string, @Arg('personId', () => ID, { nullable: true }) personId: string | null, @Ctx() ctx: Context): Promise<Face> {
    return moveFace(ctx.em, ctx.actor, ctx.queue, { faceId, personId });
  }

  @Mutation(() => Person, {
    description:
      'Owners and editors, for a person who asked not to be shown: never shown outside the family, never named in stories, and their face blurred in the pictures people outside the family receive. New photos of them are hidden too.',
  })
  hidePerson(@Arg('personId', () => ID) personId: string, @Ctx() ctx: Context): Promise<Person> {
    return setPersonHidden(ctx.em, ctx.actor, ctx.queue, { personId, hidden: true });
  }

  @Mutation(() => Person, { description: 'Owners and editors: a hidden person may be shown again (if named).' })
  unhidePerson(@Arg('personId', () => ID) personId: string, @Ctx() ctx: Context): Promise<Person> {
    return setPersonHidden(ctx.em, ctx.actor, ctx.queue, { personId, hidden: false });
  }
}

@Resolver(() => Asset)
export class AssetFacesResolver {
  @FieldResolver(() => [Face], {
    description: "Faces found in the photo, left to right (in a video: on its poster and in frames across the film, each person once). The chest's members see all of them; everyone else only the faces of people the family named and did not hide.",
  })
  async faces(@Root() asset: Asset, @Ctx() ctx: Context): Promise<Face[]> {
    return facesShown(ctx.actor, asset, await ctx.loaders.facesByAsset.load(asset.id), (id) => ctx.loaders.peopleById.load(id));
  }
}

@Resolver(() => Face)
export class FaceResolver {
  @FieldResolver(() => Person, { nullable: true, description: 'Whose face it is; null when nobody.' })
  person(@Root() face: Face, @Ctx() ctx: Context): Promise<Person | null> {
    return personOfFace(ctx.actor, face, (id) => ctx.loaders.peopleById.load(id));
  }
}
